"""What sampling needs and nothing more.

``scales``, ``noise`` and ``images`` use numpy and Pillow only (the serving runtime imports them);
``generator`` and ``pyramid`` hold the torch forward pass.
"""
