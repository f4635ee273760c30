() => {
  // The output gallery's lightbox (Gradio's preview: arrow keys step, Esc closes) gains zoom as in
  // A1111's: a click on the big picture zooms in at that point (or back out) instead of stepping
  // to the next one; the wheel zooms in and out. A new picture starts unzoomed.
  const MAX_ZOOM = 8;
  const bigImage = (target) =>
    target instanceof HTMLImageElement && target.closest(".sd-gallery .preview .media-button") ? target : null;
  const zoomOf = (img) => Number(img.dataset.sdZoom || 1);
  const setZoom = (img, zoom, event) => {
    zoom = Math.min(MAX_ZOOM, Math.max(1, zoom));
    if (event) {
      const box = img.getBoundingClientRect();
      const x = ((event.clientX - box.left) / box.width) * 100;
      const y = ((event.clientY - box.top) / box.height) * 100;
      if (zoomOf(img) === 1) img.style.transformOrigin = `${x}% ${y}%`;
    }
    img.dataset.sdZoom = String(zoom);
    img.dataset.sdSrc = img.src;
    img.style.transform = zoom === 1 ? "" : `scale(${zoom})`;
    img.classList.toggle("sd-zoomed", zoom > 1);
  };
  document.addEventListener(
    "click",
    (event) => {
      const img = bigImage(event.target);
      if (!img) return;
      // Gradio's own click steps to the next picture: the lightbox zooms instead (arrows still step).
      event.stopPropagation();
      event.preventDefault();
      if (img.dataset.sdSrc !== img.src) img.dataset.sdZoom = "1";
      setZoom(img, zoomOf(img) > 1 ? 1 : 2, event);
    },
    true,
  );
  document.addEventListener(
    "wheel",
    (event) => {
      const img = bigImage(event.target);
      if (!img) return;
      event.preventDefault();
      if (img.dataset.sdSrc !== img.src) img.dataset.sdZoom = "1";
      setZoom(img, zoomOf(img) * (event.deltaY < 0 ? 1.25 : 0.5), event);
    },
    { capture: true, passive: false },
  );
  // A picture changed by the arrow keys shows unzoomed.
  new MutationObserver((changes) => {
    for (const change of changes) {
      const img = change.target;
      if (change.attributeName === "src" && bigImage(img) && img.dataset.sdSrc && img.dataset.sdSrc !== img.src) {
        setZoom(img, 1);
      }
    }
  }).observe(document.body, { attributes: true, attributeFilter: ["src"], subtree: true });
  // The icon buttons under each gallery say what they do on hover, as A1111's do.
  const TITLES = {
    open_folder: "Open images output directory",
    save: "Save the image(s) with their parameters to the log folder (log/images, a line each in log/log.csv)",
    zip: "Download a zip archive of the gallery's images, parameters included",
  };
  for (const tab of ["txt2img", "img2img"]) {
    for (const [name, title] of Object.entries(TITLES)) {
      const button = document.getElementById(`${tab}_${name}`);
      if (button) button.title = title;
    }
  }
}
