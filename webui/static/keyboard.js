() => {
  // A1111's keys: Ctrl+Enter or Alt+Enter clicks the shown tab's Generate (from anywhere in the
  // page), Esc clicks its Interrupt while a job runs. Generate reads "Generating..." while one runs
  // (webui/components/top_row.py BUSY_LABEL).
  const TABS = ["txt2img", "img2img"];
  const BUSY_LABEL = "Generating...";
  const shown = (el) => Boolean(el) && el.getClientRects().length > 0;

  // The generation tab the key was pressed in, else the one on screen.
  const currentTab = (target) => {
    for (const tab of TABS) {
      if (target && target.closest && target.closest("#tab_" + tab)) return tab;
    }
    return TABS.find((tab) => shown(document.getElementById(tab + "_generate"))) || null;
  };

  document.addEventListener("keydown", (event) => {
    const generateKey = event.key === "Enter" && (event.ctrlKey || event.altKey || event.metaKey);
    if (!generateKey && event.key !== "Escape") return;
    // An Esc another script used (closing a lightbox, a menu) is not an interrupt.
    if (!generateKey && event.defaultPrevented) return;
    const tab = currentTab(event.target);
    if (!tab) return;
    const generate = document.getElementById(tab + "_generate");
    if (generateKey) {
      event.preventDefault();
      generate.click();
    } else if (generate.innerText.trim() === BUSY_LABEL) {
      document.getElementById(tab + "_interrupt").click();
    }
  });
}
