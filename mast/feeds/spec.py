"""The data schema a partner's data lead builds the extract to, printed from the definition.

``mast feeds spec FEED`` prints it; ``--template`` prints a CSV with the header and one example
row. Both come from the same definition that parsing uses, so the document cannot drift from
what ingest accepts.
"""

from __future__ import annotations

import csv
import io
import textwrap

from mast.feeds.definition import CHARACTER_CLASSES, DEFAULT_SEX_CODES, FeedDefinition

_FIELD_MEANING = {
    "source_record_id": "case reference (unique in the file)",
    "record_date": "date of the incident or start of involvement",
    "end_date": "end of involvement",
    "given_name": "forename",
    "middle_name": "middle names",
    "family_name": "surname",
    "full_name": "whole name",
    "dob": "date of birth",
    "sex": "sex",
    "address_line1": "address",
    "address_line2": "address (locality, town)",
    "postcode": "postcode",
    "uprn": "UPRN",
    "nhs_number": "NHS number",
    "contact_name": "whom to contact",
    "contact_team": "team to contact",
    "contact_phone": "phone to call",
    "contact_email": "email to write to",
    "sensitive": "sensitive flag",
    "withdrawal": "withdrawal marker",
    "relevance": "decides which rows MAST keeps",
}
_ENCODING = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM (Excel 'CSV UTF-8')",
             "windows-1252": "Windows-1252 (ANSI)"}  # fmt: skip
_DELIM = {",": "comma", "\t": "tab", "|": "pipe", ";": "semicolon"}


def _format_of(definition: FeedDefinition, field: str, column_date: str | None) -> str:
    if field in ("record_date", "end_date", "dob"):
        return column_date or definition.date_format
    if field == "full_name":
        return ("SURNAME, Forename Middle" if definition.name_order == "family_first"
                else "Forename Middle Surname")  # fmt: skip
    if field == "sex":
        return ", ".join(definition.sex_codes) if definition.sex_codes else "M, F, U"
    if field == "sensitive" and definition.sensitive:
        return "/".join([*definition.sensitive.true_values[:1], *definition.sensitive.false_values[:1]]) + " or blank"
    if field == "withdrawal" and definition.withdrawal:
        return f"{definition.withdrawal.values[0]} withdraws"
    if field == "nhs_number":
        return "10 digits"
    if field == "uprn":
        return "up to 12 digits"
    return "text"


def _classes(definition: FeedDefinition) -> dict[str, list[str]]:
    """The columns held to a character class narrower than printable text, by class."""
    out: dict[str, list[str]] = {}
    for c in definition.columns:
        cls = definition.limit_for(c.field).characters
        if cls != "text":
            out.setdefault(cls, []).append(c.name)
    return out


def render_spec(definition: FeedDefinition) -> str:
    """A plain-text schema: the file, then every column with format, required and example."""
    from mast.feeds.reading import MAX_HEADER_BYTES, MAX_RECORD_BYTES

    d = definition
    out = [
        f"{d.name} ({d.id}), sent by {d.partner}",
        "",
        *textwrap.wrap(d.description, 96),
        "",
        "File",
        f"  CSV with a header row; {_DELIM[d.file.delimiter]} separated; "
        f"{_ENCODING[d.file.encoding]} (UTF-8 with or without BOM and Windows-1252 are all accepted;",
        "  comma or tab separated is detected). Cells holding commas or line breaks go in double quotes.",
        f"  Mode: {d.mode} — " + (
            "each file is the full current set; a record missing from it is ended (history kept)."
            if d.mode == "snapshot" else "each file holds only rows new since the last one."),
        f"  Dates: {d.date_format} unless a column says otherwise; a time after the date is ignored.",
        "  Blank cells, and " + ", ".join(repr(v) for v in d.null_values) + ", mean 'not known'.",
        "",
        "Columns (in this order; header names are matched ignoring case and extra spaces)",
    ]  # fmt: skip
    rows = [("column", "meaning", "format", "max chars", "required", "example")]
    for c in d.columns:
        example = next((e for e in c.examples if e), "")
        rows.append((c.name, _FIELD_MEANING[c.field], _format_of(d, c.field, c.date_format),
                     f"{d.limit_for(c.field).max_length:,}",
                     "yes" if c.required else "no", example))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.append("  " + "  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip())
    out.append("")
    out.append("Column notes")
    for c in d.columns:
        if c.description:
            note = f"{c.name}: {c.description}"
            if c.aliases:
                note += f" (also accepted as: {', '.join(c.aliases)})"
            out.extend(textwrap.wrap(note, 96, initial_indent="  ", subsequent_indent="    "))
    out.append("")
    out.append("Rules")
    if d.column_for("sex") is not None and not d.sex_codes:
        codes = sorted({k.upper() if len(k) == 1 else k.title() for k in DEFAULT_SEX_CODES})
        out.append(f"  Sex codes accepted: {', '.join(codes)}.")
    if d.sensitive:
        out.append(f"  Sensitive: {', '.join(d.sensitive.true_values)} marks a record sensitive; "
                   f"{', '.join(d.sensitive.false_values) or 'blank'} or blank do not; anything else "
                   "is rejected (never guessed).")  # fmt: skip
    if d.withdrawal:
        col = d.column_for("withdrawal")
        out.append(f"  Withdrawal: send the row's reference again with {col.name if col else ''} = "
                   f"{' or '.join(d.withdrawal.values)}; the earlier row stops being searchable.")  # fmt: skip
    if d.relevance:
        col = d.column_for("relevance")
        out.append(f"  Relevance ({d.relevance.description or 'rows MAST keeps'}): rows whose "
                   f"{col.name if col else ''} is one of: {'; '.join(d.relevance.keep)}. Other rows "
                   "are counted on the receipt and not stored.")  # fmt: skip
    if d.placeholder_dates and d.column_for("dob") is not None:
        out.append("  Dates of birth " + ", ".join(p.strftime("%d/%m/%Y") for p in d.placeholder_dates)
                   + " are read as 'not known'.")  # fmt: skip
    out += [
        *(f"  {', '.join(names)}: {CHARACTER_CLASSES[cls][1]} only." for cls, names in _classes(d).items()),
        "  A cell longer than its column's limit, holding control characters (binary data) or characters",
        f"  outside its column's format rejects its row; a row of more than {MAX_RECORD_BYTES >> 20} MiB, or a header",
        f"  of more than {MAX_HEADER_BYTES >> 20} MiB, refuses the whole file (it is quarantined: fix it and send it",
        "  again).",
        "  Columns not listed are dropped on arrival and named on the receipt (their contents are",
        "  never kept): leave them out of the extract.",
        "  A row repeated in a file is stored once; the same reference with different details in one",
        "  file is rejected. Each rejected row is listed in reports/<file>.rejected.csv with its row",
        "  (as a spreadsheet shows it, header = row 1) and line (as a text editor shows it).",
        "",
        "Whom practitioners are told to contact",
        *(f"  {k}: {v}" for k, v in d.contact.model_dump().items() if v),
    ]
    return "\n".join(out) + "\n"


def template_csv(definition: FeedDefinition) -> str:
    """The header and one example row, in the partner's delimiter."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=definition.file.delimiter, lineterminator="\r\n")
    writer.writerow([c.name for c in definition.columns])
    writer.writerow([next((e for e in c.examples if e), "") for c in definition.columns])
    return buf.getvalue()
