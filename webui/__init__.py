"""The front end: Gradio tabs over the engine, no model code."""
