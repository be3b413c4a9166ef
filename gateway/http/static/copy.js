// Copy buttons for secrets shown once. A button with data-copy="<id>" copies the text of the
// element with that id. The buttons are hidden until this script runs, so a browser without
// scripts shows the secret alone, and its text stays selectable as the fallback.
"use strict";

(function () {
  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function say(button, message) {
    var status = button.parentNode.querySelector(".copy-status");
    if (status) {
      status.textContent = message;
    }
  }

  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    var text = source.textContent.trim();
    if (!navigator.clipboard || !navigator.clipboard.writeText) {
      selectText(source);
      say(button, "Selected: press Ctrl+C (⌘C) to copy.");
      return;
    }
    navigator.clipboard.writeText(text).then(
      function () {
        button.textContent = "Copied";
        say(button, "Copied to the clipboard.");
      },
      function () {
        selectText(source);
        say(button, "Could not copy: the text is selected, press Ctrl+C (⌘C).");
      }
    );
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      copy(button);
    });
  });
})();
