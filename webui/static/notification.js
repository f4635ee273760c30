() => {
  // A1111's notification sound: when a job's results replace a gallery's first picture, play the
  // data dir's notification.mp3. The page asks once whether the file exists; silent when it does not.
  const watched = ["txt2img_gallery", "img2img_gallery", "extras_gallery"];
  const firstPicture = (id) => {
    const gallery = document.getElementById(id);
    // Thumbnails only: a live preview shown over the gallery is not a result.
    const image = gallery && gallery.querySelector(".thumbnail-item img");
    return image ? image.getAttribute("src") : null;
  };
  fetch("notification.mp3", {method: "GET", cache: "no-store"}).then((answer) => {
    if (!answer.ok) return;
    const sound = new Audio("notification.mp3");
    const last = Object.fromEntries(watched.map((id) => [id, firstPicture(id)]));
    let pending = false;
    const check = () => {
      pending = false;
      let changed = false;
      for (const id of watched) {
        const now = firstPicture(id);
        if (now && now !== last[id]) changed = true;
        last[id] = now;
      }
      if (changed) {
        sound.currentTime = 0;
        sound.play().catch(() => {});  // a page not yet clicked may not play sound: nothing to do then
      }
    };
    // Batched: a gallery update is many DOM changes. A timer, not an animation frame: frames stop
    // while the page is in the background, which is when the sound matters most.
    new MutationObserver(() => {
      if (!pending) { pending = true; setTimeout(check, 100); }
    }).observe(document.body, {childList: true, subtree: true, attributes: true, attributeFilter: ["src"]});
  }).catch(() => {});
}
