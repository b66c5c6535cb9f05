"""Benchmarks of ``session_store``: what each call costs, and how it holds up at scale.

``python -m benchmarks`` (also ``session-store bench`` from a source
checkout) runs five parts on Amazon DynamoDB Local, prints their tables and
writes ``BENCHMARKS.md`` with the machine, the versions and the date:

1. ``benchmarks.cost``: requests, capacity units and time of every adapter
   method on a session of 10 and of 10,000 messages, next to the TypeScript
   adapter's figures (``benchmarks.reference``);
2. ``benchmarks.overhead``: the CPU the adapter adds to raw botocore making
   the same requests, both on the same canned responses;
3. ``benchmarks.scale``: reading, paging, listing, deleting and sweeping,
   and how each grows from 1,000 to 10,000;
4. ``benchmarks.concurrency``: ``AsyncDynamoDBAdapter`` with 100
   conversations at once against the sync adapter in a loop;
5. ``benchmarks.offload``: a 10 KB to 10 MB message offloaded to S3, against
   the same message inline where it fits.

``--quick`` runs the same code at small sizes (CI does, through
``tests/benchmarks``). Nothing here is part of the installed package.
"""

from benchmarks.runner import PARTS, Report, RunOptions, main, run_benchmarks
from benchmarks.sizes import FULL, QUICK, Sizes

__all__ = ["FULL", "PARTS", "QUICK", "Report", "RunOptions", "Sizes", "main", "run_benchmarks"]
