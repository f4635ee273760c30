() => {
  // A PNG (or JPEG/WebP) dropped onto a prompt box is read for its generation parameters, as in
  // A1111: the file goes to the tab's hidden upload (elem_id <tab>_png_drop), whose server handler
  // fills the tab's fields. Text dropped onto the box is left to the browser.
  const uploadFor = {txt2img_prompt: "txt2img_png_drop", img2img_prompt: "img2img_png_drop"};
  const selector = Object.keys(uploadFor).map((id) => "#" + id).join(",");
  const promptBox = (event) => (event.target && event.target.closest ? event.target.closest(selector) : null);
  const carriesFiles = (event) => Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types || []).includes("Files");

  document.addEventListener("dragover", (event) => {
    if (promptBox(event) && carriesFiles(event)) event.preventDefault();
  }, true);
  document.addEventListener("drop", (event) => {
    const box = promptBox(event);
    if (!box || !carriesFiles(event)) return;
    const file = Array.from(event.dataTransfer.files).find((f) => f.type.startsWith("image/"));
    if (!file) return;
    event.preventDefault();
    event.stopPropagation();
    const input = document.querySelector("#" + uploadFor[box.id] + " input[type=file]");
    if (!input) return;
    const carried = new DataTransfer();
    carried.items.add(file);
    input.files = carried.files;
    input.dispatchEvent(new Event("change", {bubbles: true}));
  }, true);
}
