// "Select every item on this page" for the disposition review form: a checkbox carrying
// data-select-all="NAME" ticks or clears every checkbox NAME of its form. Without scripts the
// box stays hidden and the form's "every item waiting for your decision" does the same job.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const all of document.querySelectorAll("input[type=checkbox][data-select-all]")) {
    const form = all.form;
    if (!form) continue;
    const name = all.dataset.selectAll;
    const boxes = () => Array.from(form.elements).filter((e) => e.type === "checkbox" && e.name === name);
    const reflect = () => {
      const list = boxes();
      all.checked = list.length > 0 && list.every((b) => b.checked);
      all.indeterminate = !all.checked && list.some((b) => b.checked);
    };
    all.hidden = false;
    all.addEventListener("change", () => { for (const b of boxes()) b.checked = all.checked; });
    form.addEventListener("change", (event) => { if (event.target.name === name) reflect(); });
    reflect();
  }
});
