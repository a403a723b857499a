"""Upload page: drop CRM exports, confirm each file's table, mapping and stage map, load.

A file with a header but no data rows is marked and left out; after a load the page states
each file's outcome in words (``docs/loading.md``) and gives the link that shares the dataset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd
import streamlit as st

from engine.cli.commands import report_lines
from engine.core.canonical import CANONICAL_STAGES, TABLES
from engine.load import snapshots
from engine.load.ingest import Limits
from engine.load.mapping import Mapping, MappingStore, recognise
from engine.load.pipeline import (
    MIN_CONFIDENCE,
    FilePlan,
    default_stage_map,
    inspect_file,
    load_plans,
)
from engine.load.samples import ensure_sample_dataset
from engine.load.stagemap import StageMap
from views import auth, common, links, state

NONE = "(not mapped)"
MAX_FILES = Limits().max_files
ws = common.workspace()
store = MappingStore.for_owner(ws.root, ws.owner_key(auth.identity()))
plans: dict[str, FilePlan] = state.upload_plans()


def _on_table(name: str) -> None:
    plan = plans[name]
    table = state.widget_value(f"table::{name}")
    plans[name] = plan.with_mapping(recognise(plan.raw.headers, plan.filename, table=table))


def _on_column(name: str, col: str) -> None:
    chosen = state.widget_value(f"map::{name}::{col}")
    plans[name] = plans[name].with_mapping(
        plans[name].mapping.with_column(col, None if chosen == NONE else chosen)
    )


def blanks_blank(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty cells shown empty rather than as "None"."""
    return frame.astype(object).where(frame.notna(), "")


def file_section(name: str, plan: FilePlan) -> None:
    st.subheader(common.escape(name), divider="gray")
    if not plan.has_rows:
        st.warning(
            f"**No data rows**: {common.escape(name)} has a header line but no rows, so it is "
            "left out of the load. Export it again with its rows if it should be part of the "
            "dataset.",
            icon=":material/block:",
        )
        return
    if f"include::{name}" not in st.session_state:
        # A file that is not a CRM table (an Account or Contact export) starts left out.
        st.session_state[f"include::{name}"] = plan.mapping.confidence >= MIN_CONFIDENCE
    st.toggle("Include this file in the dataset", key=f"include::{name}")
    if not st.session_state[f"include::{name}"]:
        st.caption("Left out of the load. Turn it on to map and load it.")
        return
    state.bind_widget(f"table::{name}", plan.table)
    st.selectbox(
        "Recognised as table", list(TABLES), key=f"table::{name}", on_change=_on_table, args=(name,)
    )
    if plan.remembered:
        st.caption("Mapping remembered from an earlier upload with the same headers.")
    st.text("\n".join(plan.raw.notes) or f"Read as {plan.raw.format}.")
    grid = st.columns(3)
    for i, col in enumerate(TABLES[plan.table].columns):
        key = f"map::{name}::{col.name}"
        state.bind_widget(key, plan.mapping.columns.get(col.name, NONE))
        grid[i % 3].selectbox(
            col.name + (" *" if col.required else ""),
            [NONE, *plan.raw.headers],
            key=key,
            on_change=_on_column,
            args=(name, col.name),
        )
    st.text("Unmapped columns: " + (", ".join(plan.mapping.unmapped) or "none"))
    problems = plan.blocking_problems()
    for problem in problems:
        st.error(common.escape(problem))
    if problems:
        st.caption(
            "To load this file, choose the matching header in each box marked * above "
            "(or pick the right table), or remove the file from the uploader."
        )
    preview = blanks_blank(plan.raw.table.slice(0, 10).to_pandas())
    common.table(preview, f"{name} preview", f"pv_{name}")


def stage_map_editor(plans_list: list[FilePlan]) -> StageMap | None:
    """The proposed stage map, editable. Stages outside the built-in maps are guesses from
    their names, ticked "guess" until the user confirms them (untick, change the canonical
    stage, or "Confirm all guesses"); a guess that matched no keyword loads as an unknown
    stage until then."""
    proposed = default_stage_map(plans_list)
    if not proposed.entries:
        return proposed
    st.subheader("Stage map", divider="gray")
    st.caption("CRM stage -> canonical stage, funnel order and default probability (editable).")
    sig = hashlib.sha1(proposed.to_json().encode()).hexdigest()[:10]
    base_key, version_key = f"stagemap_base::{sig}", f"stagemap_version::{sig}"
    base = st.session_state.get(base_key) or [e.to_dict() for e in proposed.entries]
    version = int(st.session_state.get(version_key, 0))
    edited = st.data_editor(
        pd.DataFrame(base),
        key=f"stagemap::{sig}::{version}",
        hide_index=True,
        num_rows="fixed",
        disabled=["stage"],
        column_config={
            "canonical": st.column_config.SelectboxColumn(options=list(CANONICAL_STAGES)),
            "order": st.column_config.NumberColumn(min_value=1, step=1),
            "probability": st.column_config.NumberColumn(min_value=0, max_value=100),
            "guessed": st.column_config.CheckboxColumn(
                "guess", help="Guessed from the stage's name: untick once you have checked it."
            ),
        },
    )
    rows = edited.to_dict("records")
    for row, before in zip(rows, base, strict=True):
        if row["canonical"] != before["canonical"]:
            row["guessed"] = False  # choosing the canonical stage confirms it
    guesses = sum(bool(r["guessed"]) for r in rows)
    if guesses:
        st.markdown(
            f"**{guesses} of {len(rows)} stages are guesses** from their names (ticked "
            '"guess"). Check them, then untick each or confirm them all. A guess '
            "that matched no known word loads as an unknown stage (its deals are flagged) "
            "until it is confirmed."
        )
        if st.button("Confirm all guesses", icon=":material/done_all:", key=f"confirm::{sig}"):
            st.session_state[base_key] = [dict(r, guessed=False) for r in rows]
            st.session_state[version_key] = version + 1
            st.rerun()
    else:
        st.caption("Every stage mapping is confirmed.")
    with common.error_boundary():
        return StageMap.from_dict({"entries": rows})
    return None


def load_signature(chosen: list[FilePlan], stage_map: StageMap | None) -> str:
    """What a load is made of: the files, their mappings and the stage map. The Load button
    stays disabled after a load until one of them changes."""
    parts = [[p.filename, p.size_bytes, p.mapping.to_json()] for p in chosen]
    parts.append([stage_map.to_json() if stage_map is not None else None])
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()


def snapshot_target() -> tuple[str, str] | None:
    """(token, name) of the dataset a newer export would be added to: the open one, when this
    browser or account loaded it (adding rows to a dataset is its uploader's to do)."""
    info = common.dataset_info()
    token = state.current().dataset
    if info is None or token is None or not state.can_reveal(token):
        return None
    return token, common.workspace().info(token).name


def reuse_setup(token: str) -> tuple[StageMap | None, list[Mapping]]:
    return snapshots.previous_setup(ws, token)


def snapshot_options(token: str, chosen: list[FilePlan]) -> tuple[dt.date, StageMap | None]:
    """The as-of date (shown, editable, defaulting to the export's latest date) and the
    dataset's stage map, completed with guesses for stages it does not know."""
    latest = common.workspace().snapshot(token, None).as_of
    after = dt.date.fromisoformat(latest[:10]) + dt.timedelta(days=1)
    proposed = snapshots.latest_date(chosen) or dt.date.today()
    st.subheader("Newer export", divider="gray")
    as_of = st.date_input(
        "As of",
        value=max(proposed, after),
        min_value=after,
        key="snapshot_as_of",
        help="The day this export was taken. Proposed: the latest date in its rows. It must be "
        f"after the dataset's latest snapshot ({latest}).",
    )
    st.caption(
        f"Proposed from the export's rows: {proposed.isoformat()}. The dataset's latest "
        f"snapshot is as of {latest}."
    )
    previous, _ = reuse_setup(token)
    _, stage_map = snapshots.reuse(chosen, previous, [])
    if stage_map is not None:
        st.caption("Stage map of the dataset, reused (stages it did not know are guesses):")
        common.table(
            pd.DataFrame([e.to_dict() for e in stage_map.entries]), "stage map", "snap_stagemap"
        )
    return as_of if isinstance(as_of, dt.date) else after, stage_map or default_stage_map(chosen)


def run_load(
    chosen: list[FilePlan],
    stage_map: StageMap,
    name: str,
    signature: str,
    no_rows: list[str],
    into: str | None = None,
    as_of: dt.date | None = None,
) -> None:
    with st.status("Loading…", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(message: str, fraction: float) -> None:
            st.text(message)
            bar.progress(min(max(fraction, 0.0), 1.0), text=common.escape(message))

        if into is not None:
            info, prepared = snapshots.load_snapshot_plans(
                ws, into, chosen, as_of, stage_map, owner=common.owner_key()
            )
        else:
            info, prepared = load_plans(
                ws, chosen, name, stage_map=stage_map, progress=progress, owner=common.owner_key()
            )
        bar.progress(1.0, text="Done")
        status.update(label="Loaded", state="complete")
    for plan in chosen:
        store.save(plan.mapping)
    flagged = ws.flagged_rows(info.token)
    reports = [
        dict(r, rows_flagged=flagged.get(r["file"], 0), warnings_fired=sum(r["warnings"].values()))
        for r in prepared.reports()
    ]
    token = into or info.token
    state.remember_dataset(token)
    state.remember_created(token)
    state.set_last_load(
        {
            "token": token,
            "snapshot": ws.snapshot(into, None).as_of if into else None,
            "name": info.name,
            "reports": reports,
            "no_rows": [*no_rows, *prepared.no_rows],
            "signature": signature,
            "files": len(chosen),  # a HubSpot file reports its stage dates as a second source
        }
    )
    state.set_param("dataset", token)
    state.set_param("snapshot", None)
    for dim in links.FILTER_DIMS:
        state.set_param(dim, None)
    st.rerun()


def _n(n: int, word: str) -> str:
    return f"{n:,} {word if n == 1 else word + 's'}"


def load_report() -> None:
    done = state.last_load()
    if done is None:
        return
    reports = done["reports"]
    rows_in = sum(r["rows_in"] for r in reports)
    loaded = sum(r["rows_loaded"] for r in reports)
    quarantined = sum(r["rows_quarantined"] for r in reports)
    what = (
        f"Added a snapshot as of {done['snapshot']} to dataset {common.escape(done['name'])}"
        if done.get("snapshot")
        else f"Loaded dataset {common.escape(done['name'])}"
    )
    st.success(
        f"{what}: {_n(done.get('files', len(reports)), 'file')}, "
        f"{_n(rows_in, 'row')} in = {loaded:,} loaded \\+ {quarantined:,} quarantined."
    )
    for r in reports:
        first, *rest = report_lines(r, r["rows_flagged"])
        st.markdown(
            "- " + common.escape(first) + "".join(f"  \n  {common.escape(x)}" for x in rest)
        )
    for name in done.get("no_rows", []):
        st.markdown(f"- {common.escape(name)}: no data rows, left out")
    rows = [dict(r, notes="; ".join(r["notes"])) for r in reports]
    cols = [
        "file",
        "table",
        "rows_in",
        "rows_loaded",
        "rows_quarantined",
        "rows_flagged",
        "warnings_fired",
        "notes",
    ]
    common.table(pd.DataFrame(rows, columns=cols), "load report", "load_report")
    view = state.current().with_(dataset=done["token"], filters={}, page="funnel", extras={})
    common.page_link("funnel", "Open the analysis", ":material/insights:", view=view)
    common.page_link("quality", "See the data quality report", ":material/fact_check:", view=view)
    if done.get("snapshot"):
        common.page_link("changes", "See what changed", ":material/waterfall_chart:", view=view)
    st.markdown(
        "**To share this dataset, send this link** (copy button on the right). Anyone who has "
        "the link can open it; the sidebar lists the dataset only to you."
    )
    st.code(common.share_url(view), language=None, wrap_lines=True)


st.header("Upload")
if st.button("Try the sample data", icon=":material/dataset:"):
    with common.error_boundary():
        token = ensure_sample_dataset(ws)
        state.remember_dataset(token)
        view = state.current().with_(dataset=token, filters={}, page="funnel", extras={})
        st.switch_page("views/funnel.py", query_params=view.shared_params("funnel"))
limit = st.get_option("server.maxUploadSize")
st.info(
    f"Upload limit: {limit} MB per file. CSV, XLSX or Parquet exports from Salesforce, HubSpot, "
    "Pipedrive or a spreadsheet; drop several files at once (deals, stage history, activities, "
    "reps, quotas, leads)."
)
uploads = st.file_uploader(
    "CRM exports",
    type=["csv", "txt", "tsv", "xlsx", "xlsm", "parquet"],
    accept_multiple_files=True,
    key="uploader",
)
target = snapshot_target()
into: str | None = None
if target is not None:
    mode = st.radio(
        "Load the files as",
        ["dataset", "snapshot"],
        format_func=lambda m: (
            "A new dataset"
            if m == "dataset"
            else f"Add a newer export to {common.escape(target[1][:60])}"
        ),
        key="load_mode",
        horizontal=True,
        help="A newer export of the same CRM becomes a snapshot of the open dataset: its "
        "mappings and stage map are reused, and the Pipeline changes page compares the two.",
    )
    into = target[0] if mode == "snapshot" else None
uploads = list(uploads or [])
if len(uploads) > MAX_FILES:
    st.error(
        f"{len(uploads)} files were dropped; one load takes at most {MAX_FILES}. The first "
        f"{MAX_FILES} are read: remove the others from the uploader (or load them in a second "
        "dataset).",
        icon=":material/error:",
    )
    uploads = uploads[:MAX_FILES]
names = [u.name for u in uploads]
for gone in [n for n in plans if n not in names]:
    del plans[gone]
for upload in uploads:
    if upload.name not in plans:
        with common.error_boundary():
            plans[upload.name] = inspect_file(upload.getvalue(), upload.name, remembered=store)
    if (
        into is not None
        and upload.name in plans
        and not st.session_state.get(f"reused::{into}::{upload.name}")
    ):
        # The dataset's mapping of a file with the same headers, once (edits stay).
        with common.error_boundary():
            _, earlier = reuse_setup(into)
            plans[upload.name] = snapshots.reuse([plans[upload.name]], None, earlier)[0][0]
            st.session_state[f"reused::{into}::{upload.name}"] = True
for name in [n for n in names if n in plans]:
    with common.error_boundary():
        file_section(name, plans[name])
included = {
    n: plans[n].has_rows and st.session_state.get(f"include::{n}", True)
    for n in names
    if n in plans
}
chosen = [plans[n] for n, keep in included.items() if keep]
left_out = [
    common.escape(n) + ("" if plans[n].has_rows else " (no data rows)")
    for n, keep in included.items()
    if not keep
]
if left_out:
    st.caption("Left out: " + ", ".join(left_out))
if included and not any(plans[n].has_rows for n in included):
    st.warning("None of these files has data rows, so there is nothing to load.")
if chosen:
    snap_as_of: dt.date | None = None
    default_name = ", ".join(p.filename for p in chosen)[:80]
    if into is not None:
        snap_as_of, stage_map = snapshot_options(into, chosen)
        dataset_name = default_name
    else:
        stage_map = stage_map_editor(chosen)
        dataset_name = st.text_input("Dataset name", value=default_name, key="dataset_name")
    blocked = stage_map is None or any(p.blocking_problems() for p in chosen)
    signature = load_signature(chosen, stage_map) + f"{into}{snap_as_of}"
    done = state.last_load()
    already = done is not None and done.get("signature") == signature
    if st.button("Load", type="primary", disabled=blocked or already, icon=":material/upload:"):
        with common.error_boundary():
            empty = [n for n in included if not plans[n].has_rows]
            run_load(
                chosen,
                stage_map or StageMap(),
                dataset_name or default_name,
                signature,
                empty,
                into,
                snap_as_of,
            )
    if already:
        st.caption(
            "These files are loaded (report below). Change a file, a mapping or the stage map "
            "to load them again."
        )
load_report()
