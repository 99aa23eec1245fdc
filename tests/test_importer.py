"""`travelbot import-tsa` against a modified copy of the real export."""

import json
import shutil

import pytest

from knowledge.corpus import read_entry
from knowledge.importer import ExportFormatError, import_export
from knowledge.schema import slugify
from knowledge.validate import TSA_ITEMS_FILE


@pytest.fixture()
def workspace(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(TSA_ITEMS_FILE.parents[1] / "corpus", corpus)
    current = tmp_path / "current.json"
    shutil.copyfile(TSA_ITEMS_FILE, current)
    return tmp_path, corpus, current


def modified_export(current, tmp_path):
    items = json.loads(current.read_text())
    by_name = {i["name"]: i for i in items}
    by_name["Aerosol Insecticide"]["carryOnRaw"] = "Yes"  # status change
    removed = items[1]["name"]
    items = [i for i in items if i["name"] != removed]
    items.append({**items[0], "name": "Hoverboard Charger (Brand New)"})  # added
    path = tmp_path / "new.json"
    path.write_text(json.dumps(items))
    return path, removed


def test_import_reports_and_marks_without_touching_editor_text(workspace):
    tmp_path, corpus, current = workspace
    insecticide = corpus / "items" / "aerosol-insecticide.yml"
    before = insecticide.read_text()
    new, removed = modified_export(current, tmp_path)

    report, _ = import_export(new, current=current, corpus_dir=corpus)

    assert report.added == ["hoverboard-charger-brand-new"]
    assert report.removed == [slugify(removed)]
    changes = [(c.entry_id, c.bag, c.after) for c in report.changed]
    assert changes == [("aerosol-insecticide", "carry-on", "Yes")]
    assert set(report.marked) == {"aerosol-insecticide", report.removed[0]}
    entry = read_entry(insecticide, corpus)
    assert entry.needs_review and "carry-on now 'Yes'" in (entry.review_note or "")
    after = insecticide.read_text()
    assert after.startswith(before.rstrip("\n"))  # the editor's lines are untouched, flags appended
    assert current.read_text() == new.read_text()  # the new export is now the reference

    # Importing the same export again changes nothing and marks nothing.
    again, _ = import_export(new, current=current, corpus_dir=corpus)
    assert (again.added, again.removed, again.changed, again.marked) == ([], [], [], [])
    assert insecticide.read_text() == after


def test_remarking_replaces_the_old_note(workspace):
    tmp_path, corpus, current = workspace
    new, _ = modified_export(current, tmp_path)
    import_export(new, current=current, corpus_dir=corpus)
    items = json.loads(new.read_text())
    next(i for i in items if i["name"] == "Aerosol Insecticide")["checkedRaw"] = "No"
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(items))
    import_export(newer, current=current, corpus_dir=corpus)
    text = (corpus / "items" / "aerosol-insecticide.yml").read_text()
    assert text.count("needs_review:") == 1 and text.count("review_note:") == 1
    note = read_entry(corpus / "items" / "aerosol-insecticide.yml", corpus).review_note
    assert note is not None and "checked now 'No'" in note


def test_a_file_in_the_wrong_format_is_refused(workspace):
    tmp_path, corpus, current = workspace
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "x"}]))
    with pytest.raises(ExportFormatError, match="item 0 lacks description"):
        import_export(bad, current=current, corpus_dir=corpus)
    assert current.read_text() == TSA_ITEMS_FILE.read_text()
