// The item page's tags: after htmx swaps the tag block, the button that had the keyboard
// focus is gone; focus goes back to the tag field, so tagging needs no mouse.
document.addEventListener("htmx:afterSettle", function () {
  var block = document.getElementById("item-tags");
  var field = document.getElementById("tag-name");
  var lost = !document.activeElement || document.activeElement === document.body;
  if (block && field && (lost || block.contains(document.activeElement))) {
    field.focus();
  }
});
