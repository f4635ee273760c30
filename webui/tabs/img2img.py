"""The img2img tab, laid out as A1111 v1.10 users know it: the txt2img controls (the same builders,
the same request model) plus the picture sub-tabs (img2img, Sketch, Inpaint, Inpaint sketch,
Inpaint upload, Batch), Resize mode, "Resize to" / "Resize by", Denoising strength and the mask
controls of the inpainting sub-tabs.

Pictures are read by us, never by Gradio: Generate first reads the current sub-tab's pictures
unprocessed (preprocess=False) within the pixel cap into the session, then a second step builds
the request from every control (processed as usual, so scripts' controls keep their types)."""

import json
from dataclasses import dataclass

import gradio as gr

from modules.engine import Engine
from modules.processing.request import (
    INPAINT_AREAS,
    MASKED_CONTENT,
    RESIZE_MODES,
    GenerationRequest,
    Img2ImgRequest,
)
from modules.processing.request import MASK_MODES as MASK_MODE_LABELS
from webui.components.extra_networks import build_extra_networks_row
from webui.components.field_group import field_default, slider_for
from webui.components.img2img_inputs import (
    MASK_MODES,
    MODES,
    NoPicture,
    UploadError,
    detected_size,
    editor_size,
    inpaint_inputs,
    inpaint_sketch_inputs,
    inpaint_upload_inputs,
    label_of,
    read_editor,
    resize_label,
    scaled_size,
    sketch_init,
    upload_size,
)
from webui.components.progress import message_html
from webui.components.refiner import build_refiner_controls
from webui.components.scripts import build_script_controls
from webui.components.seed_extra import build_seed_extra
from webui.tabs.generation_ui import (
    GenerationTab,
    ParametersPaste,
    build_batch_sliders,
    build_cfg,
    build_output_panel,
    build_override_box,
    build_sampler_row,
    build_seed_row,
    build_size_sliders,
    build_steps,
    build_top_row,
    default_size,
)

# A1111's img2img default; the request's own default (0.7) is the hires fix's.
DENOISING_DEFAULT = 0.75
SCALE_MIN, SCALE_MAX, SCALE_STEP = 0.05, 4.0, 0.05
PICTURE_HEIGHT = 480
SKETCH_COLOURS = ["#000000", "#ffffff", "#cc3232", "#32cc70", "#3270cc", "#adcc32", "#ad32cc"]
RESIZE_TABS = {"Resize to": "to", "Resize by": "by"}
# The queue line of the events that follow the selected sub-tab (see build_img2img_tab).
IN_ORDER = "img2img_tabs"
# Generate reads which sub-tab and which resize tab are shown from the page itself (A1111 does the
# same): the tabs' select events may reach the server out of order (a tab also reports itself
# selected when first drawn), the page never is.
SHOWN_TABS_JS = (
    "(mode, resizeTab) => {\n"
    "  const shown = (tabs, ids, current) => {\n"
    "    const tab = document.querySelector(`#${tabs} [role=tab][aria-selected=true]`);\n"
    "    return (tab && ids[tab.innerText.trim()]) || current;\n"
    "  };\n"
    f"  const modes = {json.dumps({label: mode for mode, label in MODES.items()})};\n"
    f"  const resizeTabs = {json.dumps(RESIZE_TABS)};\n"
    '  return [shown("mode_img2img", modes, mode), shown("img2img_tabs_resize", resizeTabs, resizeTab)];\n'
    "}"
)


def _editor(elem_id: str, label: str, *, colours: bool) -> gr.ImageEditor:
    """An image editor over one picture: one layer to paint on, no crop (the strokes must stay
    aligned with the picture), PNG so nothing is lost on the way."""
    brush = (
        gr.Brush(colors=SKETCH_COLOURS, default_color=SKETCH_COLOURS[0], color_mode="defaults")
        if colours
        else gr.Brush(colors=["#ffffff"], default_color="#ffffff", color_mode="fixed")
    )
    return gr.ImageEditor(label=label, elem_id=elem_id, type="pil", image_mode="RGBA", sources=["upload", "clipboard"],
                          brush=brush, layers=False, transforms=(), format="png", height=PICTURE_HEIGHT)  # fmt: skip


def _picture(elem_id: str, label: str) -> gr.Image:
    return gr.Image(label=label, elem_id=elem_id, type="pil", image_mode="RGBA", sources=["upload", "clipboard"],
                    format="png", height=PICTURE_HEIGHT)  # fmt: skip


@dataclass
class Img2ImgTab:
    """The built tab: its common parts and what send-to buttons fill."""

    generation: GenerationTab
    subtabs: gr.Tabs
    mode: gr.State  # the selected sub-tab's id (a key of MODES), as the tabs' events report it
    image: gr.Image
    inpaint: gr.ImageEditor
    mask_group: gr.Group
    pictures: dict  # sub-tab id -> the component holding its picture (Batch has none)
    scale: gr.Slider
    scale_label: gr.HTML

    @property
    def paste(self) -> ParametersPaste:
        return self.generation.paste

    @property
    def receive_outputs(self) -> list:
        return list(dict.fromkeys([*self.paste.outputs, self.image, self.inpaint, self.subtabs, self.mode,
                                   self.mask_group]))  # fmt: skip

    def receive(self, path: str, infotext: str, target: str) -> dict:
        """Updates that put the picture at `path` into the `target` sub-tab ("img2img" or "inpaint")
        with its infotext's fields, as A1111's send-to buttons do; pair with `after_receive`."""
        updates = {}
        if infotext:
            applied = self.paste.apply(infotext)
            if len(applied) > 1:  # only a message: the text holds no parameters; the picture still goes
                updates.update(applied)
        if target == "inpaint":
            updates[self.inpaint] = {"background": path, "layers": [], "composite": path}
        else:
            updates[self.image] = path
        updates.update({self.subtabs: gr.Tabs(selected=target), self.mode: target,
                        self.mask_group: gr.update(visible=target in MASK_MODES)})  # fmt: skip
        return updates

    def after_receive(self, dependency) -> None:
        """Refresh the "Resize by" label once a send-to event has put a picture in."""
        self.refresh_label_on(dependency.then)

    @property
    def label_inputs(self) -> set:
        return {self.mode, self.scale, *self.pictures.values()}

    def refresh_label_on(self, listener, **kwargs) -> None:
        """The "Resize by" label recomputed when `listener` (an event method) fires. Pictures are read
        raw (header only); the events wait in one line so they see the sub-tab the page last chose."""
        listener(self.label_now, inputs=self.label_inputs, outputs=self.scale_label, preprocess=False,
                 concurrency_id=IN_ORDER, concurrency_limit=1, show_progress="hidden", **kwargs)  # fmt: skip

    def size_now(self, chosen: str, values: dict) -> tuple[int, int] | None:
        """The picture size of sub-tab `chosen` from raw values ({component: value})."""
        component = self.pictures.get(chosen)
        if component is None or values.get(component) is None:
            return None
        if isinstance(component, gr.ImageEditor):
            return editor_size(values[component], component.blob_storage)
        return upload_size(values[component])

    def label_now(self, values: dict) -> str:
        scale = values[self.scale]
        return resize_label(self.size_now(values[self.mode], values), scale if scale is not None else 1.0)


def build_img2img_tab(engine: Engine, checkpoint: gr.Dropdown, clip_skip: gr.Slider | None = None) -> Img2ImgTab:
    size = default_size(engine)
    top = build_top_row(engine, "img2img")
    # The selected sub-tab as its events report it (server-side, read when an event is handled):
    # the mask controls and the "Resize by" label follow it.
    mode = gr.State("img2img")
    # What Generate reads: the sub-tab and resize tab shown in the page, put here just before (hidden).
    shown_mode = gr.Textbox("img2img", visible="hidden", elem_id="img2img_selected_mode")
    resize_tab = gr.Textbox("to", visible="hidden", elem_id="img2img_selected_resize_tab")
    pictures = gr.State(None)  # what Generate's first step read: {"init", "mask"} or {"error"}
    with gr.Row():
        with gr.Column(scale=1):
            build_extra_networks_row(engine, top.box.prompt, "img2img")
            with gr.Tabs(elem_id="mode_img2img") as subtabs:
                with gr.Tab(MODES["img2img"], id="img2img", elem_id="img2img_img2img_tab") as tab_img2img:
                    image = _picture("img2img_image", "Image for img2img")
                with gr.Tab(MODES["sketch"], id="sketch", elem_id="img2img_img2img_sketch_tab") as tab_sketch:
                    sketch = _editor("img2img_sketch", "Image for img2img", colours=True)
                with gr.Tab(MODES["inpaint"], id="inpaint", elem_id="img2img_inpaint_tab") as tab_inpaint:
                    inpaint = _editor("img2maskimg", "Image for inpainting with mask", colours=False)
                with gr.Tab(MODES["inpaint_sketch"], id="inpaint_sketch",
                            elem_id="img2img_inpaint_sketch_tab") as tab_inpaint_sketch:  # fmt: skip
                    inpaint_sketch = _editor("inpaint_sketch", "Color sketch inpainting", colours=True)
                    mask_alpha = gr.Slider(0, 100, value=0, step=1, label="Mask transparency",
                                           elem_id="img2img_mask_alpha")  # fmt: skip
                with gr.Tab(MODES["inpaint_upload"], id="inpaint_upload",
                            elem_id="img2img_inpaint_upload_tab") as tab_inpaint_upload:  # fmt: skip
                    inpaint_base = _picture("img_inpaint_base", "Image for img2img")
                    inpaint_mask = _picture("img_inpaint_mask", "Mask (white = repaint)")
                with gr.Tab(MODES["batch"], id="batch", elem_id="img2img_batch_tab") as tab_batch:
                    gr.HTML('<p class="sd-hint">Process every image in a folder on the server. Leave the output '
                            "folder empty to save into the usual outputs folder. With a mask folder, each image's "
                            "mask is the file of the same name there.</p>")  # fmt: skip
                    batch_input = gr.Textbox(label="Input directory", elem_id="img2img_batch_input_dir")
                    batch_output = gr.Textbox(label="Output directory", elem_id="img2img_batch_output_dir")
                    batch_masks = gr.Textbox(label="Inpaint batch mask directory (required for inpaint batch only)",
                                             elem_id="img2img_batch_inpaint_mask_dir")  # fmt: skip
                    use_png_info = gr.Checkbox(label="Use PNG info", value=False,
                                               info="Take each input PNG's own parameters (prompt, seed, ...)",
                                               elem_id="img2img_batch_use_png_info")  # fmt: skip
            resize_mode = gr.Radio(list(RESIZE_MODES), value=RESIZE_MODES[0], type="index", label="Resize mode",
                                   elem_id="img2img_resize_mode")  # fmt: skip
            with gr.Group(visible=False, elem_id="img2img_mask_controls") as mask_group:
                mask_blur = slider_for(Img2ImgRequest, "mask_blur", label="Mask blur", elem_id="img2img_mask_blur")
                mask_mode = gr.Radio(list(MASK_MODE_LABELS), value=MASK_MODE_LABELS[0], type="index", label="Mask mode",
                                     elem_id="img2img_mask_mode")  # fmt: skip
                inpainting_fill = gr.Radio(list(MASKED_CONTENT), type="index", label="Masked content",
                                           value=MASKED_CONTENT[field_default(Img2ImgRequest, "inpainting_fill")],
                                           elem_id="img2img_inpainting_fill")  # fmt: skip
                with gr.Row():
                    inpaint_area = gr.Radio(list(INPAINT_AREAS), type="index", label="Inpaint area",
                                            value=INPAINT_AREAS[int(field_default(Img2ImgRequest, "inpaint_full_res"))],
                                            elem_id="img2img_inpaint_full_res")  # fmt: skip
                    padding = slider_for(Img2ImgRequest, "inpaint_full_res_padding", step=4,
                                         label="Only masked padding, pixels",
                                         elem_id="img2img_inpaint_full_res_padding")  # fmt: skip
            sampler, schedule = build_sampler_row("img2img")
            steps = build_steps("img2img")
            with gr.Row():
                with gr.Column(scale=4):
                    with gr.Tabs(elem_id="img2img_tabs_resize"):
                        with gr.Tab("Resize to", id="to", elem_id="img2img_tab_resize_to"):
                            width, height = build_size_sliders("img2img", size)
                            detect = gr.Button("Auto detect size from picture", size="sm",
                                               elem_id="img2img_detect_image_size_btn")  # fmt: skip
                        with gr.Tab("Resize by", id="by", elem_id="img2img_tab_resize_by") as tab_by:
                            scale = gr.Slider(SCALE_MIN, SCALE_MAX, value=1.0, step=SCALE_STEP, label="Scale",
                                              elem_id="img2img_scale")  # fmt: skip
                            scale_label = gr.HTML(resize_label(None, 1.0), elem_id="img2img_scale_resolution_preview")
                with gr.Column(scale=2, min_width=180):
                    batch_count, batch_size = build_batch_sliders("img2img")
            with gr.Row():
                cfg = build_cfg("img2img")
                # A1111's range; only instruct-pix2pix checkpoints read it (the infotext says so).
                image_cfg = slider_for(Img2ImgRequest, "image_cfg_scale", minimum=0.0, maximum=3.0, step=0.05,
                                       label="Image CFG Scale", elem_id="img2img_image_cfg_scale")  # fmt: skip
            denoising = slider_for(Img2ImgRequest, "denoising_strength", value=DENOISING_DEFAULT, step=0.01,
                                   label="Denoising strength", elem_id="img2img_denoising_strength")  # fmt: skip
            seed = build_seed_row("img2img")
            seed_extra = build_seed_extra("img2img")
            refiner = build_refiner_controls(engine, "img2img")
            scripts = build_script_controls(engine, "img2img")
            override_box = build_override_box("img2img")
        with gr.Column(scale=1):
            output = build_output_panel("img2img")
    tab = GenerationTab(
        engine, "img2img", top, sampler, schedule, steps, width, height, batch_count, batch_size, cfg, seed,
        seed_extra, scripts, override_box, output, checkpoint, clip_skip,
    )  # fmt: skip
    picture_of = {"img2img": image, "sketch": sketch, "inpaint": inpaint, "inpaint_sketch": inpaint_sketch,
                  "inpaint_upload": inpaint_base}  # fmt: skip
    built = Img2ImgTab(tab, subtabs, mode, image, inpaint, mask_group, picture_of, scale, scale_label)
    editors = {"sketch": sketch, "inpaint": inpaint, "inpaint_sketch": inpaint_sketch}

    # --- Generate, step 1: the current sub-tab's pictures, read unprocessed within the pixel cap.
    def read_pictures(values: dict):
        chosen = values[shown_mode]
        max_pixels = int(engine.settings.get("image_max_pixels"))
        try:
            if chosen == "batch":
                return {"batch": True}
            if chosen == "img2img":
                init = _read(values[image], max_pixels)
                return {"init": init, "mask": None}
            if chosen == "inpaint_upload":
                init, mask = inpaint_upload_inputs(values[inpaint_base], values[inpaint_mask], max_pixels)
                return {"init": init, "mask": mask}
            editor = editors[chosen]
            painted = read_editor(values[editor], max_pixels, editor.blob_storage)
            if chosen == "sketch":
                return {"init": sketch_init(painted), "mask": None}
            if chosen == "inpaint":
                init, mask = inpaint_inputs(painted)
            else:
                init, mask = inpaint_sketch_inputs(painted, values[mask_alpha] or 0, values[mask_blur] or 0)
            return {"init": init, "mask": mask}
        except (UploadError, NoPicture) as error:
            return {"error": str(error)}
        except KeyError:
            return {"error": f"unknown img2img mode {chosen!r}"}

    picture_inputs = {shown_mode, image, inpaint_base, inpaint_mask, mask_alpha, mask_blur, *editors.values()}

    # --- Generate, step 2: the request from every control.
    def knob_fields(values: dict) -> dict:
        def given(component, default):
            value = values[component]
            return default if value is None else value

        return {
            "denoising_strength": float(given(denoising, DENOISING_DEFAULT)),
            "image_cfg_scale": float(given(image_cfg, field_default(Img2ImgRequest, "image_cfg_scale"))),
            "resize_mode": given(resize_mode, 0),
            "mask_blur": int(given(mask_blur, field_default(Img2ImgRequest, "mask_blur"))),
            "inpainting_fill": given(inpainting_fill, field_default(Img2ImgRequest, "inpainting_fill")),
            "inpaint_full_res": bool(given(inpaint_area, 0)),
            "inpaint_full_res_padding": int(given(padding, field_default(Img2ImgRequest, "inpaint_full_res_padding"))),
            "inpainting_mask_invert": bool(given(mask_mode, 0)),
        }

    async def run(values: dict):
        state = values[tab.session]
        read = values[pictures] or {}
        if "error" in read or not ("init" in read or read.get("batch")):
            # (No pictures at all: another Generate of this page took them; this one reads them again.)
            yield tab.refused(state, read.get("error", "The pictures were not read: press Generate again"))
            return
        fields = {**tab.request_fields(values), **knob_fields(values), **refiner.request_fields(values)}
        if read.get("batch"):
            spec = (values[batch_input], values[batch_output], values[batch_masks], bool(values[use_png_info]))

            def submit():
                return submit_batch(engine, fields, spec, values[resize_tab] == "by", values[scale])

        else:
            init, mask = read["init"], read["mask"]
            if values[resize_tab] == "by":
                fields["width"], fields["height"] = scaled_size(init.width, init.height, float(values[scale]))

            def submit():
                return engine.submit_img2img(Img2ImgRequest(**fields, init_images=[init], mask=mask))

        async for update in tab.submit_and_follow(state, submit):
            yield update

    knobs = [denoising, image_cfg, resize_mode, mask_blur, inpainting_fill, inpaint_area, padding, mask_mode]
    inputs = {*tab.inputs, *knobs, *refiner.components, pictures, resize_tab, scale, batch_input, batch_output,
              batch_masks, use_png_info}  # fmt: skip
    for trigger in (top.generate.click, top.box.prompt.submit):
        shown = top.busy_from(trigger).then(None, inputs=[shown_mode, resize_tab], outputs=[shown_mode, resize_tab],
                                            js=SHOWN_TABS_JS)  # fmt: skip
        read = shown.then(read_pictures, inputs=picture_inputs, outputs=pictures, preprocess=False,
                          concurrency_limit=None, show_progress="hidden")  # fmt: skip
        generated = read.then(run, inputs=inputs, outputs=tab.outputs, concurrency_limit=None, show_progress="hidden")
        # The pictures are in the request now: the session need not hold them until the next Generate.
        done = generated.then(lambda: None, outputs=pictures, queue=False, show_progress="hidden")
        top.idle_after(done)
    tab.wire_common()

    # --- Read parameters: the common fields and img2img's own.
    def pasted_knobs(fields: dict) -> dict:
        if "mask_blur" in fields and "inpaint_full_res" not in fields:
            # An inpainting infotext names "Inpaint area" only for "Only masked".
            fields = {**fields, "inpaint_full_res": False}
        updates = {}
        for name, component in (("denoising_strength", denoising), ("image_cfg_scale", image_cfg),
                                ("mask_blur", mask_blur), ("inpaint_full_res_padding", padding)):  # fmt: skip
            if name in fields:
                updates[component] = fields[name]
        for name, component, labels in (("resize_mode", resize_mode, RESIZE_MODES),
                                        ("inpainting_fill", inpainting_fill, MASKED_CONTENT),
                                        ("inpaint_full_res", inpaint_area, INPAINT_AREAS),
                                        ("inpainting_mask_invert", mask_mode, MASK_MODE_LABELS)):  # fmt: skip
            label = label_of(labels, fields.get(name))
            if label is not None:
                updates[component] = label
        return updates

    tab.paste = tab.build_paste([*knobs, *refiner.components],
                                lambda fields: {**pasted_knobs(fields), **refiner.pasted_values(fields)})  # fmt: skip

    # --- Sub-tabs: the selected one decides the mask controls and the size shown. These events wait
    # in one line so they apply in the order the page sent them (a sub-tab also reports itself
    # selected when first drawn), and read `mode` when handled, not when sent.
    in_order = {"concurrency_id": IN_ORDER, "concurrency_limit": 1, "show_progress": "hidden"}
    for chosen, subtab in (("img2img", tab_img2img), ("sketch", tab_sketch), ("inpaint", tab_inpaint),
                           ("inpaint_sketch", tab_inpaint_sketch), ("inpaint_upload", tab_inpaint_upload),
                           ("batch", tab_batch)):  # fmt: skip
        own = picture_of.get(chosen)

        def select(values: dict, chosen=chosen):
            shown = built.label_now({**values, mode: chosen})
            return {mode: chosen, mask_group: gr.update(visible=chosen in MASK_MODES), scale_label: shown}

        subtab.select(select, inputs={scale, *([own] if own is not None else [])},
                      outputs=[mode, mask_group, scale_label], preprocess=False, **in_order)  # fmt: skip
    built.refresh_label_on(tab_by.select)
    built.refresh_label_on(scale.change, trigger_mode="always_last")
    # An uploaded picture's size shows at once. (Image editors: an editor's change listener would
    # put it in a "realtime" mode where Generate may receive a half-uploaded stroke; their size is
    # read when the label is next drawn.)
    for component in (image, inpaint_base):
        built.refresh_label_on(component.change)

    message = output.message

    def detect_size(values: dict):
        found = detected_size(built.size_now(values[mode], values))
        if found is None:
            return {message: message_html("No picture in this sub-tab to take the size from", "error")}
        return {width: found[0], height: found[1], message: ""}

    detect.click(detect_size, inputs=built.label_inputs, outputs=[width, height, message], preprocess=False,
                 **in_order)  # fmt: skip
    return built


def _read(upload, max_pixels: int):
    from modules.images.uploads import read_upload

    picture = read_upload(upload, max_pixels)
    if picture is None:
        raise NoPicture("Upload an image first (or send one here from a gallery)")
    return picture


def submit_batch(engine: Engine, fields: dict, spec: tuple, resize_by: bool, scale: float):
    """Queue a Batch run: every picture of the input folder through the request `fields` make
    (a template without init images); the engine's batch runner reads, masks and saves them.
    "Resize by" scales each picture by its own size (the runner knows it)."""
    from modules.processing.img2img_batch import BatchSpec

    input_dir, output_dir, mask_dir, use_png_info = spec
    if not (input_dir or "").strip():
        raise ValueError("Batch: enter the input directory")
    template = GenerationRequest(**fields)
    batch = BatchSpec(input_dir.strip(), (output_dir or "").strip(), (mask_dir or "").strip(), use_png_info,
                      scale_by=float(scale) if resize_by else None)  # fmt: skip
    return engine.submit_img2img_batch(template, batch)
