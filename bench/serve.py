"""`python -m bench.serve`: `chargeledger serve` for the benchmark's app (bench/app.py). The same
steps and the same Granian settings as the product's command; only the factory the workers call
differs, so the floors measured beside the product run on exactly the product's stack.

Usage: python -m bench.serve --port 8000 --workers 2 --database-url postgresql://..."""

import argparse

from chargeledger.cli.common import migrate_or_exit, settings_for
from chargeledger.cli.keys import key_source_or_exit
from chargeledger.cli.serving import serve_api
from chargeledger.logs import configure_logging

BENCH_APP_FACTORY = "bench.app:create_bench_app_from_environment"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    settings = settings_for(args.database_url)
    configure_logging(settings.log_format, settings.log_level)
    key_source_or_exit(settings)
    migrate_or_exit(settings)
    serve_api(
        settings,
        host=args.host,
        port=args.port,
        workers=args.workers,
        app_factory=BENCH_APP_FACTORY,
    )


if __name__ == "__main__":
    main()
