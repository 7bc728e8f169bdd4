// After a failed submit the page comes back with an error summary: move focus to it, so that
// a keyboard or screen-reader user lands on what went wrong instead of the top of the page.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
});
