() => {
  // A1111's "Generate forever": right click on Generate opens a small menu; while on, each time
  // Generate leaves its busy label ("Generating...", webui/components/top_row.py) it is clicked
  // again, until "Cancel generate forever".
  const TABS = ["txt2img", "img2img"];
  const BUSY_LABEL = "Generating...";
  const CHECK_MS = 250;
  // A click whose busy label never shows (refused before it started) is retried after this long.
  const START_GRACE_MS = 5000;
  const forever = {}; // tab -> {clickedAt, sawBusy} while generating forever

  const button = (tab) => document.getElementById(tab + "_generate");
  const busy = (tab) => button(tab).innerText.trim() === BUSY_LABEL;

  const click = (tab) => {
    forever[tab] = {clickedAt: Date.now(), sawBusy: false};
    button(tab).click();
  };

  const tick = () => {
    for (const tab of Object.keys(forever)) {
      const run = forever[tab];
      if (!button(tab)) continue;
      if (busy(tab)) run.sawBusy = true;
      else if (run.sawBusy || Date.now() - run.clickedAt > START_GRACE_MS) click(tab);
    }
  };
  setInterval(tick, CHECK_MS);

  const menu = document.createElement("div");
  menu.id = "sd_generate_menu";
  menu.className = "sd-context-menu";
  menu.hidden = true;
  const item = (label, id) => {
    const entry = document.createElement("button");
    entry.type = "button";
    entry.textContent = label;
    entry.id = id;
    menu.appendChild(entry);
    return entry;
  };
  const start = item("Generate forever", "sd_generate_forever");
  const cancel = item("Cancel generate forever", "sd_cancel_generate_forever");
  document.body.appendChild(menu);
  let menuTab = null;

  start.addEventListener("click", () => {
    menu.hidden = true;
    if (menuTab && !forever[menuTab]) {
      // Started at once when idle; after the running job otherwise.
      if (busy(menuTab)) forever[menuTab] = {clickedAt: Date.now(), sawBusy: true};
      else click(menuTab);
    }
  });
  cancel.addEventListener("click", () => {
    menu.hidden = true;
    if (menuTab) delete forever[menuTab];
  });

  document.addEventListener("contextmenu", (event) => {
    const tab = TABS.find((t) => event.target.closest && event.target.closest("#" + t + "_generate"));
    if (!tab) return;
    event.preventDefault();
    menuTab = tab;
    start.disabled = Boolean(forever[tab]);
    cancel.disabled = !forever[tab];
    menu.style.left = event.pageX + "px";
    menu.style.top = event.pageY + "px";
    menu.hidden = false;
  });
  document.addEventListener("click", (event) => {
    if (!menu.hidden && !menu.contains(event.target)) menu.hidden = true;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") menu.hidden = true;
  });
}
