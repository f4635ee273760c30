() => {
  // What each icon button does, shown on hover (Gradio's Button takes no tooltip).
  const TIPS = {
    style_apply: "Apply the selected styles to the prompts",
    style_refresh: "Reload the styles from styles.csv",
    style_create: "Save the prompts as a new style (asks for the name when the box beside is empty)",
    paste: "Read generation parameters from an infotext pasted into the prompt",
    clear_prompt: "Clear the prompt and the negative prompt",
    random_seed: "Random seed (-1)",
    reuse_seed: "Reuse the seed of the last or selected image",
    random_subseed: "Random variation seed (-1)",
    res_switch_btn: "Swap width and height",
    generate: "Generate (Ctrl+Enter); right click: Generate forever",
  };
  // True once every button has its tip.
  const label = () => {
    let missing = 0;
    for (const tab of ["txt2img", "img2img"]) {
      for (const [name, tip] of Object.entries(TIPS)) {
        const button = document.getElementById(tab + "_" + name);
        if (button) button.title = tip;
        else missing++;
      }
    }
    return missing === 0;
  };
  if (label()) return;
  // The img2img tab's buttons exist once the tab is first drawn.
  const observer = new MutationObserver(() => label() && observer.disconnect());
  observer.observe(document.body, {childList: true, subtree: true});
}
