"""The asyncio client against the real server: concurrent requests, metadata, clear errors."""

import asyncio

import numpy as np
import pytest

from sigctl.client import AsyncSigClient, RequestRejected, ServerRequestError, SigClient

from ..conftest import free_ports


def test_async_client_matches_sync_client_under_concurrency(triton):
    async def run():
        async with AsyncSigClient(triton.settings.grpc_url, "balloons") as client:
            info = await client.info()
            batches = await asyncio.gather(*(client.sample(1, seed, 24, 40) for seed in range(6)))
            with pytest.raises(RequestRejected, match="between 1 and"):
                await client.sample(1000, 0)
            return info, batches

    info, batches = asyncio.run(run())
    assert info.name == "balloons"
    with SigClient(triton.settings.grpc_url, "balloons") as client:
        expected = client.sample(6, 0, 24, 40)
    assert np.array_equal(np.concatenate(batches), expected)


def test_unreachable_server_says_so():
    (port,) = free_ports(1)
    with SigClient(f"127.0.0.1:{port}", "m") as client:
        with pytest.raises(ServerRequestError, match="cannot reach a Triton server"):
            client.sample(1, 0)


def test_images_of_the_wrong_dtype_are_refused_not_cast():
    from sigctl.core.operations import Request
    from sigctl.errors import RequestError
    from sigctl.serving import contract

    with pytest.raises(RequestError, match="IMAGE must be uint8"):
        contract.build_inputs(Request("paint", image=np.zeros((8, 8, 3), np.float32)))
