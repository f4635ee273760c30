"""A1111's small tool buttons: one symbol each (📋 🔄 ✎ 🎲 ♻️ ⇅ ↙️ 🗑️); webui/static/tooltips.js
names what each does on hover, style.css keeps them small and square."""

import gradio as gr


def icon_button(icon: str, elem_id: str) -> gr.Button:
    return gr.Button(icon, elem_id=elem_id, elem_classes=["sd-tool"], size="sm", scale=0, min_width=36)
