"""The ``travelbot`` command: build the index, ask questions, check the corpus."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from knowledge.corpus import CORPUS_DIR, CorpusError, Problem, load_corpus, read_entry
from knowledge.validate import Sources, check_entry, copied_runs, validate


def _print_problems(problems: Sequence[Problem]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s)", file=sys.stderr)
    return 1


def cmd_validate(args: argparse.Namespace) -> int:
    sources = Sources.load()
    if args.files:
        # Check just these files (for a writer working on a few entries).
        runs = copied_runs(item["description"] for item in sources.items)
        problems: List[Problem] = []
        for name in args.files:
            path = Path(name).resolve()
            try:
                entry = read_entry(path, CORPUS_DIR)
            except CorpusError as exc:
                problems.extend(exc.problems)
                continue
            problems.extend(check_entry(entry, name, runs))
    else:
        try:
            corpus = load_corpus()
        except CorpusError as exc:
            return _print_problems(exc.problems)
        problems = validate(corpus, sources)
    if problems:
        return _print_problems(problems)
    print("corpus OK")
    return 0


def cmd_import_tsa(args: argparse.Namespace) -> int:
    from knowledge.importer import ExportFormatError, import_export

    try:
        report, _ = import_export(Path(args.file))
    except ExportFormatError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    if report.added:
        print("run `travelbot validate` to see the entries still to write", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    try:
        corpus = load_corpus()
    except CorpusError as exc:
        return _print_problems(exc.problems)
    rows = [
        {
            "id": e.id,
            "title": e.title,
            "kind": e.kind.value,
            "last_reviewed": e.last_reviewed.isoformat(),
            "needs_review": e.needs_review,
            "carry_on": e.carry_on.value if e.carry_on else None,
            "checked": e.checked.value if e.checked else None,
            "source_url": e.source_url,
        }
        for e in corpus
    ]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        for row in rows:
            flag = "  (needs review)" if row["needs_review"] else ""
            print(f"{row['id']:<50} {row['kind']:<5} {row['last_reviewed']}{flag}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from knowledge.base import load_or_build
    from travelbot.settings import settings

    try:
        kb = load_or_build(settings().index_path(), progress=True, force=args.force)
    except CorpusError as exc:
        return _print_problems(exc.problems)
    print(
        f"index ready: {len(kb.corpus)} entries, {len(kb.index.row_entry)} phrasings ({kb.fingerprint[:12]})"
    )
    print(f"sentence model for single messages ready: {kb.embedder.single_encoder().graph}")
    return 0


def cmd_nlu_data(args: argparse.Namespace) -> int:
    from travelbot.nlu_data import write_question_examples

    count = write_question_examples(Path(args.out))
    print(f"wrote {count} ask_question examples to {args.out}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from travelbot.asker import Asker

    asker = Asker.load()
    if args.question:
        result = asker.ask(" ".join(args.question))
        if args.json:
            print(json.dumps(result))
        else:
            print(asker.human_readable(result))
        return 0
    if not args.json:
        print("give a QUESTION, or --json to read one question per line from stdin", file=sys.stderr)
        return 2
    for line in sys.stdin:
        question = line.rstrip("\n")
        print(json.dumps(asker.ask(question)), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="travelbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check the FAQ corpus; non-zero exit on any problem")
    p.add_argument("files", nargs="*", help="check only these entry files")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("index", help="build the search index (only if the corpus or model changed)")
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="ask the assistant a question, as the first message of a conversation")
    p.add_argument("--json", action="store_true", help="one JSON object per question")
    p.add_argument("question", nargs="*", help="the question; without it, --json reads stdin line by line")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("nlu-data", help="write Rasa ask_question examples generated from the corpus")
    p.add_argument("--out", required=True, help="YAML file to write")
    p.set_defaults(func=cmd_nlu_data)

    p = sub.add_parser(
        "import-tsa", help="take a newer TSA export: report changes, mark affected entries for review"
    )
    p.add_argument("file", help="the new export (same format as knowledge/sources/tsa-what-can-i-bring.json)")
    p.set_defaults(func=cmd_import_tsa)

    p = sub.add_parser("list", help="list every corpus entry")
    p.add_argument("--json", action="store_true", help="one JSON array")
    p.set_defaults(func=cmd_list)

    from travelbot.user_cli import register as register_user_command

    register_user_command(sub)

    from travelbot.publisher import register as register_publish_command

    register_publish_command(sub)

    from travelbot.rollback import register as register_rollback_command

    register_rollback_command(sub)

    from travelbot.schema import register as register_db_command

    register_db_command(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
