() => {
  // `--theme dark|light` (webui/components/top_row.py puts it on the top row as a class): the page
  // opens in that theme, as `?__theme=` does; a `?__theme=` in the address still wins.
  if (new URL(window.location.href).searchParams.has("__theme")) return;
  const flagged = document.querySelector(".sd-theme-dark") ? "dark" : document.querySelector(".sd-theme-light") ? "light" : null;
  if (flagged) document.body.classList.toggle("dark", flagged === "dark");
}
