"""The Settings tab, as A1111's: a list of pages on the left (A1111's sections, then extensions'),
a search over every option, per-field checks on Apply (nothing saved while any field is invalid,
the typed values kept), a ↺ per option that puts its default back, and "Reload UI"."""

import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gradio as gr

from modules.config.setting_sections import group_by_page, matches
from modules.config.settings import SettingSpec, SettingsSaveError
from modules.engine import Engine
from webui.components.progress import message_html
from webui.components.setting_control import refresh_choices_button, runtime_choices, setting_control

SHOW_ALL = "Show all pages"


@dataclass
class SettingsTab:
    components: list
    by_key: dict
    current_values: Callable  # -> the values now, in the order of `components`
    mirrors: dict = field(default_factory=dict)  # key -> a quick setting showing the same value


@dataclass
class _Field:
    spec: SettingSpec
    control: object
    row: object
    error: gr.HTML


def field_error_html(reason: str) -> str:
    if not reason:
        return ""
    return f'<div class="sd-message sd-message-error setting-error">{html.escape(reason)}</div>'


# After a restart was asked: wait for the old server to go away (or 10 s), then for the new one
# to answer, then reload; without a restart, reload at once.
RELOAD_WHEN_BACK_JS = """(restarting) => {
  if (!restarting) { window.location.reload(); return; }
  const started = Date.now();
  let wentDown = false;
  const poll = () => fetch(window.location.pathname, {cache: "no-store"}).then((answer) => {
    if (answer.ok && (wentDown || Date.now() - started > 10000)) { window.location.reload(); return; }
    setTimeout(poll, 500);
  }, () => { wentDown = true; setTimeout(poll, 500); });
  setTimeout(poll, 500);
}"""


def build_settings_tab(engine: Engine, mirrors: dict | None = None, notes: list[str] | None = None,
                       restart=None) -> SettingsTab:  # fmt: skip
    """`mirrors`: {key: control} of the quicksettings row, updated when Apply saves their keys;
    `notes`: lines shown at the top (e.g. unknown keys in quicksettings_list); `restart`: the
    ServerRestart behind Reload UI (webui/restart.py; None or not allowed: the page reloads only)."""
    settings = engine.settings
    mirrors = dict(mirrors or {})
    pages = group_by_page(settings.specs)
    first_page = next(iter(pages), SHOW_ALL)
    dynamic = runtime_choices(engine)  # dropdowns of files found at run time ("SD VAE")
    with gr.Row():
        apply = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", scale=0, min_width=160)
        reload_ui = gr.Button("Reload UI", elem_id="settings_reload_ui", scale=0, min_width=120)
        message = gr.HTML(elem_id="settings_result")
    if notes:
        gr.HTML(message_html("; ".join(notes), "error"), elem_id="settings_notes")
    fields: list[_Field] = []
    field_pages: list[str] = []  # each field's page, in the order of `fields`
    page_columns = {}
    with gr.Row(elem_id="settings_body"):
        with gr.Column(scale=1, min_width=180):
            search = gr.Textbox(label="Search", placeholder="Search settings", elem_id="settings_search")
            page_list = gr.Radio([*pages, SHOW_ALL], value=first_page, label="Pages", elem_id="settings_pages")
        with gr.Column(scale=4):
            for number, (page, members) in enumerate(pages.items()):
                with gr.Column(visible=page == first_page, elem_id=f"settings_page_{number}") as column:
                    gr.Markdown(f"### {page}")
                    for spec in members:
                        fields.append(_setting_field(spec, settings.get(spec.key), dynamic.get(spec.key)))
                        field_pages.append(page)
                page_columns[page] = column
    keys = [f.spec.key for f in fields]
    components = [f.control for f in fields]
    errors = [f.error for f in fields]
    mirror_keys = [key for key in mirrors if key in keys]
    mirror_components = [mirrors[key] for key in mirror_keys]

    def save(values: dict):
        """`values`: {component: value} for every setting's control (Gradio's set-of-inputs form)."""
        current = settings.values()
        chosen = {f.spec.key: values[f.control] for f in fields}
        changes = {key: value for key, value in chosen.items() if current.get(key) != value}
        reasons = {}
        for key, value in changes.items():
            try:
                changes[key] = settings.spec(key).coerce(value)
            except ValueError as error:
                reasons[key] = str(error).removeprefix(f"{key}: ")
        error_updates = [field_error_html(reasons.get(key, "")) for key in keys]
        if reasons:
            # Nothing is written and no field is reset: the user fixes the named ones and applies again.
            text = f"Nothing saved: {len(reasons)} setting(s) invalid: {', '.join(reasons)}"
            return [message_html(text, "error"), *error_updates, *(gr.skip() for _ in mirror_keys)]
        try:
            changed = settings.update(changes)
        except (ValueError, SettingsSaveError) as error:
            return [message_html(f"Nothing saved: {error}", "error"), *error_updates, *(gr.skip() for _ in mirror_keys)]
        mirrored = [changed[key] if key in changed else gr.skip() for key in mirror_keys]
        if not changed:
            return [message_html("No changes", "info"), *error_updates, *mirrored]
        text = f"{len(changed)} setting(s) saved: {', '.join(changed)}"
        return [message_html(text, "info"), *error_updates, *mirrored]

    apply.click(save, inputs=set(components), outputs=[message, *errors, *mirror_components], queue=False)

    def reload_server():
        if restart is not None and restart.request():
            return message_html("Restarting the server: the page reloads when it is back", "info"), True
        return message_html("The page reloads; the server was not restarted (it listens beyond this machine: "
                            "--enable-insecure-extension-access allows it)", "info"), False  # fmt: skip

    # A page-side value (a State's value never reaches the page's script): whether to wait for a restart.
    restarting = gr.Checkbox(False, visible="hidden", elem_id="settings_restarting")
    reload_ui.click(reload_server, outputs=[message, restarting], queue=False).then(
        None, inputs=restarting, js=RELOAD_WHEN_BACK_JS, queue=False
    )

    def show(page, query):
        """The pages and options to show: the chosen page (or all); with a search, every option
        that matches on any page."""
        query = (query or "").strip()
        visible_rows = [not query or matches(f.spec, query) for f in fields]
        page_updates = []
        for name in page_columns:
            members = [shown for on, shown in zip(field_pages, visible_rows, strict=True) if on == name]
            if query:
                page_updates.append(gr.Column(visible=any(members)))
            else:
                page_updates.append(gr.Column(visible=page in (name, SHOW_ALL)))
        return [*page_updates, *(gr.Column(visible=shown) for shown in visible_rows)]

    show_outputs = [*page_columns.values(), *(f.row for f in fields)]
    page_list.change(show, inputs=[page_list, search], outputs=show_outputs, queue=False, show_progress="hidden")
    search.change(show, inputs=[page_list, search], outputs=show_outputs, queue=False, show_progress="hidden")

    def current_values():
        # The last output is the page's "settings read" marker (see webui/app.py).
        marker = f"<span hidden>settings read at {time.strftime('%H:%M:%S')}</span>"
        return [*(settings.get(key) for key in keys), marker]

    return SettingsTab(components=components, by_key=dict(zip(keys, components, strict=True)),
                       current_values=current_values, mirrors=mirrors)  # fmt: skip


def _setting_field(spec: SettingSpec, value, choices=None) -> _Field:
    """`choices`: a function giving a dropdown's choices found at run time (with a refresh button)."""
    with gr.Column(elem_id=f"setting_row_{spec.key}", elem_classes=["setting-row"]) as row:
        with gr.Row(equal_height=False):
            listed = choices() if choices is not None else None
            control = setting_control(spec, value, f"setting_{spec.key}", choices=listed, scale=8)
            if choices is not None:
                refresh_choices_button(control, choices, f"setting_{spec.key}_refresh")
            restore = gr.Button("↺", elem_id=f"setting_{spec.key}_restore", scale=0, min_width=40, size="sm",
                                elem_classes=["setting-restore"])  # fmt: skip
        error = gr.HTML(elem_id=f"setting_{spec.key}_error")
    # The default goes back into the field; Apply saves it, like any other edit.
    restore.click(lambda: spec.default, outputs=control, queue=False, show_progress="hidden")
    return _Field(spec, control, row, error)
