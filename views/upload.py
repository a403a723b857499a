"""Upload page: drop CRM exports, confirm each file's table, mapping and stage map, load."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from engine.canonical import CANONICAL_STAGES, TABLES
from engine.mapping import MappingStore, recognise
from engine.pipeline import MIN_CONFIDENCE, FilePlan, default_stage_map, inspect_file, load_plans
from engine.samples import ensure_sample_dataset
from engine.stagemap import StageMap
from views import common, state

NONE = "(not mapped)"
ws = common.workspace()
store = MappingStore(ws.root / "mappings.json")
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


def file_section(name: str, plan: FilePlan) -> None:
    st.subheader(common.escape(name), divider="gray")
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
    common.table(plan.raw.table.slice(0, 10).to_pandas(), f"{name} preview", f"pv_{name}")


def stage_map_editor(plans_list: list[FilePlan]) -> StageMap | None:
    proposed = default_stage_map(plans_list)
    if not proposed.entries:
        return proposed
    st.subheader("Stage map", divider="gray")
    st.caption("CRM stage -> canonical stage, funnel order and default probability (editable).")
    frame = pd.DataFrame([e.to_dict() for e in proposed.entries])
    sig = hashlib.sha1(proposed.to_json().encode()).hexdigest()[:10]
    edited = st.data_editor(
        frame,
        key=f"stagemap::{sig}",
        hide_index=True,
        num_rows="fixed",
        disabled=["stage", "guessed"],
        column_config={
            "canonical": st.column_config.SelectboxColumn(options=list(CANONICAL_STAGES)),
            "order": st.column_config.NumberColumn(min_value=1, step=1),
            "probability": st.column_config.NumberColumn(min_value=0, max_value=100),
            "guessed": st.column_config.CheckboxColumn("guess (please confirm)"),
        },
    )
    with common.error_boundary():
        rows = [dict(r, guessed=False) for r in edited.to_dict("records")]
        return StageMap.from_dict({"entries": rows})
    return None


def run_load(chosen: list[FilePlan], stage_map: StageMap, name: str) -> None:
    with st.status("Loading…", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(message: str, fraction: float) -> None:
            st.text(message)
            bar.progress(min(max(fraction, 0.0), 1.0), text=common.escape(message))

        info, prepared = load_plans(ws, chosen, name, stage_map=stage_map, progress=progress)
        bar.progress(1.0, text="Done")
        status.update(label="Loaded", state="complete")
    for plan in chosen:
        store.save(plan.mapping)
    state.remember_dataset(info.token)
    state.remember_created(info.token)
    state.set_last_load({"token": info.token, "name": info.name, "reports": prepared.reports()})
    state.set_param("dataset", info.token)
    for dim in state.FILTER_DIMS:
        state.set_param(dim, None)
    st.rerun()


def load_report() -> None:
    done = state.last_load()
    if done is None:
        return
    st.success(f"Loaded dataset {common.escape(done['name'])}.")
    rows = [
        dict(r, warnings=sum(r["warnings"].values()), notes="; ".join(r["notes"]))
        for r in done["reports"]
    ]
    cols = ["file", "table", "rows_in", "rows_loaded", "rows_quarantined", "warnings", "notes"]
    common.table(pd.DataFrame(rows, columns=cols), "load report", "load_report")
    view = state.current().with_(dataset=done["token"], filters={})
    common.page_link("funnel", "Open the analysis", ":material/insights:", view=view)
    common.page_link("quality", "See the data quality report", ":material/fact_check:", view=view)


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
names = [u.name for u in uploads or []]
for gone in [n for n in plans if n not in names]:
    del plans[gone]
for upload in uploads or []:
    if upload.name not in plans:
        with common.error_boundary():
            plans[upload.name] = inspect_file(upload.getvalue(), upload.name, remembered=store)
for name in [n for n in names if n in plans]:
    with common.error_boundary():
        file_section(name, plans[name])
included = {n: st.session_state.get(f"include::{n}", True) for n in names if n in plans}
chosen = [plans[n] for n, keep in included.items() if keep]
left_out = [common.escape(n) for n, keep in included.items() if not keep]
if left_out:
    st.caption("Left out: " + ", ".join(left_out))
if chosen:
    stage_map = stage_map_editor(chosen)
    default_name = ", ".join(p.filename for p in chosen)[:80]
    dataset_name = st.text_input("Dataset name", value=default_name, key="dataset_name")
    blocked = stage_map is None or any(p.blocking_problems() for p in chosen)
    if st.button("Load", type="primary", disabled=blocked, icon=":material/upload:"):
        with common.error_boundary():
            run_load(chosen, stage_map or StageMap(), dataset_name or default_name)
load_report()
