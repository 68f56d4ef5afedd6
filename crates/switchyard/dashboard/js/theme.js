// Applies the stored theme ("auto", "light" or "dark") before the page is painted. A classic
// script on purpose: modules are deferred, and the first paint would flash the wrong theme.
(function () {
  var theme = 'auto';
  try {
    var stored = window.localStorage.getItem('switchyard.dashboard.theme');
    if (stored === 'light' || stored === 'dark' || stored === 'auto') theme = stored;
  } catch (e) {
    // Storage disabled: keep "auto".
  }
  document.documentElement.setAttribute('data-theme', theme);
})();
