"""The ``sigctl`` command line: thin wiring over library calls, one module per command group."""

from __future__ import annotations

import typer

from sigctl.cli import batch, eval, export, finetune, info, manipulate, sample, serve, train, train_many

app = typer.Typer(
    name="sigctl",
    help="Train single-image generative models (SinGAN family), export them to Triton, and sample them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.command("train")(train.train_command)
app.command("finetune")(finetune.finetune_command)
app.command("sample")(sample.sample_command)
app.command("info")(info.info_command)
app.command("export")(export.export_command)
app.command("serve")(serve.serve_command)
app.command("paint")(manipulate.paint_command)
app.command("style")(manipulate.style_command)
app.command("edit")(manipulate.edit_command)
app.command("harmonize")(manipulate.harmonize_command)
app.command("sr")(manipulate.sr_command)
app.command("animate")(manipulate.animate_command)
app.command("batch")(batch.batch_command)
app.command("eval")(eval.eval_command)
app.command("train-many")(train_many.train_many_command)


def main() -> None:
    app()
