// Tracepipe pages: the copy-to-clipboard buttons. A button names the element
// whose text it copies in data-copy-target; the outcome is announced in the
// element named by data-copy-status (an aria-live region).
'use strict';
document.querySelectorAll('button[data-copy-target]').forEach((button) => {
  button.hidden = false;
  button.addEventListener('click', async () => {
    const source = document.getElementById(button.dataset.copyTarget);
    const status = document.getElementById(button.dataset.copyStatus);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      if (status) status.textContent = 'Copied to the clipboard.';
    } catch (_) {
      // No clipboard access (an insecure origin, a refused permission):
      // select the text so that the usual copy shortcut works.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (status) status.textContent = 'Selected: press Ctrl+C (or Cmd+C) to copy.';
    }
  });
});
