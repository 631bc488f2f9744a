"""`python -m epoch_eval.report RUN.jsonl -o report.html`: the HTML report of a finished run.

Reads the epochs a `JsonLines` sink wrote and builds the same page `HtmlReport` keeps during
training, charts included, so nothing needs the training process to be alive.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def build_report(jsonl_path: str | os.PathLike[str], html_path: str | os.PathLike[str], *,
                 title: str | None = None) -> int:
    """Write the HTML report of the run in `jsonl_path`; return the number of epochs.

    Raises:
        OSError: if the file cannot be read or the page written.
        ValueError: if the file holds no epoch records, or a line that is not one.
    """
    from epoch_eval.sinks.base import EpochResult
    from epoch_eval.sinks.html_report import HtmlReport
    from epoch_eval.sinks.json_lines import read_jsonl

    epochs = read_jsonl(jsonl_path)
    if not epochs:
        raise ValueError(f"{jsonl_path}: no epoch records; expected a file written by JsonLines.")
    report = HtmlReport(html_path, title=title or f"epoch_eval report: {Path(jsonl_path).name}")
    report.open()
    for epoch, evaluation in epochs:  # a later run's epoch replaces an earlier one's
        report.write(EpochResult(epoch, evaluation, {}))
    report.close()
    return len(epochs)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m epoch_eval.report",
        description="Build the self-contained HTML report of a run from its JsonLines file.")
    parser.add_argument("jsonl", help="the .jsonl file a JsonLines sink wrote")
    parser.add_argument("-o", "--output", default=None, metavar="HTML",
                        help="the page to write (default: the .jsonl path with .html)")
    parser.add_argument("--title", default=None, help="the page's title")
    args = parser.parse_args(argv)
    output = args.output or str(Path(args.jsonl).with_suffix(".html"))
    try:
        count = build_report(args.jsonl, output, title=args.title)
    except (OSError, ValueError) as error:
        print(f"epoch_eval.report: {error}", file=sys.stderr)
        return 1
    print(f"epoch_eval.report: {count} epochs -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
