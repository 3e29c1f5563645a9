"""`tflow cleanup [--dry-run]` (issue 28, PRD §6.2): the retention run of
`services.projector.cleanup`, from a shell."""

from __future__ import annotations

import argparse
import asyncio

from ops.cli import cli_nats, cli_settings
from readmodel.db import create_pool
from runtime.jetstream.connection import close
from runtime.storage import store
from runtime.worker.facts import JetStreamFacts
from services.projector.cleanup import apply, plan


def cmd_cleanup(args: argparse.Namespace) -> int:
    """`tflow cleanup [--dry-run]`: the retention run the projector does daily
    (`services.projector.cleanup`), now; with `--dry-run`, only the list of what it removes."""
    async def main() -> int:
        settings = cli_settings()
        pool = await create_pool(settings.database.url or "")
        try:
            removals = await plan(settings, pool)
            for r in removals:
                print(f"{'would remove' if args.dry_run else 'removing'} {r.kind:12} {r.target}  ({r.reason})")
            if args.dry_run or not removals:
                print(f"{len(removals)} to remove" + (" (dry run: nothing removed)" if args.dry_run else ""))
                return 0
            nc = await cli_nats(settings)
            try:
                counts = await apply(removals, store.make_client(settings), settings.s3.bucket,
                                     JetStreamFacts(nc.jetstream(), "cli"))
            finally:
                await close(nc)
            print("removed " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
            return 0
        finally:
            await pool.close()

    return asyncio.run(main())
