"""The report's inline stylesheet and script (no external files, fonts or libraries).

The script sorts tables (click a header; ``#sort=TABLE:COLUMN:asc|desc`` in the URL sorts on load),
filters the gallery by class (``#class=NAME`` on load), shows the confusion-matrix cell under the
pointer, and records on ``<html>`` what a test (or a curious reader) can check after it ran:
``data-report-ready="1"``, ``data-js-errors`` (uncaught errors) and ``data-images`` ("loaded/total"
of the ``<img>`` elements that decoded with a non-zero width).
"""

CSS = """
:root{--fg:#1d2330;--muted:#5d6575;--line:#d9dde5;--bg:#ffffff;--soft:#f3f5f9;--a:#3b6fb6;--b:#e08a1e}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);
 background:var(--bg)}
header{padding:18px 28px;background:#1d2a44;color:#fff}
header h1{margin:0;font-size:21px}
header p{margin:4px 0 0;color:#c9d3e6}
main{padding:6px 28px 40px;max-width:1500px}
section{margin-top:26px}
h2{font-size:17px;margin:0 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.metric{background:var(--soft);border-radius:8px;padding:10px 16px;min-width:150px}
.metric .v{font-size:26px;font-weight:650}
.metric .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.metric .d{font-size:13px;font-weight:600}
.pos{color:#2e8b57}.neg{color:#c8324b}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:3px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
td:first-child,th:first-child{text-align:left}
th{background:var(--soft);position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
th.asc::after{content:" \\25B2";font-size:10px}th.desc::after{content:" \\25BC";font-size:10px}
table.kv td{text-align:left;white-space:normal;vertical-align:top}
table.kv td:first-child{color:var(--muted);width:210px}
code{background:var(--soft);padding:1px 4px;border-radius:3px;word-break:break-all}
.two{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
.chart text{font:11px system-ui,sans-serif;fill:var(--fg)}
.chart .ct{font-weight:600;font-size:12px}
.chart .tick{fill:var(--muted)}
.chart .grid{stroke:#eceef3}.chart .axis{stroke:#888}.chart .frame{fill:none;stroke:#ccd}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}
.cm{position:relative;display:inline-block}
.cm-grid{display:grid}
.cm-img{image-rendering:pixelated;display:block;cursor:crosshair}
.cm svg{font-family:system-ui,sans-serif;font-size:10px}.cm svg text{fill:var(--fg)}
#cm-tip{position:fixed;pointer-events:none;background:#1d2330;color:#fff;padding:4px 8px;border-radius:4px;
 font-size:12px;display:none;z-index:5}
.note{color:var(--muted);font-size:12.5px;max-width:980px}
.warn{color:#9a4a00}
.filter{margin:6px 0 12px}
.gallery{display:flex;flex-wrap:wrap;gap:14px}
.card{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px;background:#fff}
.card[hidden]{display:none}
.panels{display:flex;gap:4px;align-items:flex-start}
.panels div{text-align:center;font-size:11px;color:var(--muted)}
.panels img{display:block}.panels img.lab{image-rendering:pixelated}
.card figcaption{font-size:12px;margin-top:6px;max-width:700px}
.badge{display:inline-block;border-radius:3px;padding:0 5px;margin-right:4px;font-size:11px;color:#fff;
 background:#6b7385}
.badge.worst{background:#c8324b}.badge.best{background:#2e8b57}.badge.differ{background:#7a4fc0}
footer{color:var(--muted);font-size:12px;padding:10px 28px 30px}
"""

JS = r"""
(function(){
  var root = document.documentElement;
  function num(td){ var v = td.getAttribute('data-v'); return (v === null || v === '') ? null : parseFloat(v); }
  function sortTable(table, col, dir){
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var ths = table.tHead.rows[0].cells;
    var numeric = ths[col].getAttribute('data-type') !== 'text';
    rows.sort(function(a, b){
      var x = a.cells[col], y = b.cells[col];
      if (!numeric){ var s = x.textContent.localeCompare(y.textContent); return dir === 'asc' ? s : -s; }
      var p = num(x), q = num(y);
      if (p === null && q === null) return 0; if (p === null) return 1; if (q === null) return -1;
      return dir === 'asc' ? p - q : q - p;
    });
    rows.forEach(function(r){ body.appendChild(r); });
    for (var i = 0; i < ths.length; i++) ths[i].classList.remove('asc', 'desc');
    ths[col].classList.add(dir);
    table.setAttribute('data-sorted', ths[col].getAttribute('data-key') + ':' + dir);
  }
  document.querySelectorAll('table.sortable').forEach(function(table){
    var ths = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function(th, col){
      th.addEventListener('click', function(){
        var dir = th.classList.contains('desc') ? 'asc' : (th.classList.contains('asc') ? 'desc' :
                  (th.getAttribute('data-type') === 'text' ? 'asc' : 'desc'));
        sortTable(table, col, dir);
      });
    });
  });
  var select = document.getElementById('class-filter');
  function filter(value){
    var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
    var shown = 0;
    cards.forEach(function(card){
      var show = value === '' ? card.getAttribute('data-overall') === '1'
                              : (' ' + card.getAttribute('data-classes') + ' ').indexOf(' ' + value + ' ') >= 0;
      card.hidden = !show; if (show) shown++;
    });
    function key(card){
      if (value === '') return parseFloat(card.getAttribute('data-order'));
      var m = (' ' + card.getAttribute('data-class-score') + ' ').match(new RegExp(' ' + value + ':([-0-9.e]+) '));
      return m ? parseFloat(m[1]) : 1e9;
    }
    cards.sort(function(a, b){ return key(a) - key(b); });
    var gallery = document.querySelector('.gallery');
    if (gallery) cards.forEach(function(c){ gallery.appendChild(c); });
    var count = document.getElementById('gallery-count');
    if (count) count.textContent = shown + ' image' + (shown === 1 ? '' : 's');
    root.setAttribute('data-filter', value);
  }
  if (select) select.addEventListener('change', function(){ filter(select.value); });
  var tip = document.getElementById('cm-tip');
  document.querySelectorAll('.cm-img').forEach(function(img){
    var data = JSON.parse(document.getElementById(img.getAttribute('data-src')).textContent);
    var cell = parseFloat(img.getAttribute('data-cell'));
    img.addEventListener('mousemove', function(e){
      var r = Math.floor(e.offsetY / cell), c = Math.floor(e.offsetX / cell);
      if (r < 0 || r >= data.rows.length || c < 0 || c >= data.cols.length) { tip.style.display = 'none'; return; }
      tip.textContent = 'GT ' + data.rows[r] + ' \u2192 ' + data.cols[c] + ': ' +
        (100 * data.norm[r][c]).toFixed(2) + ' % of the row (' + data.counts[r][c].toLocaleString() + ' px)';
      tip.style.left = (e.clientX + 14) + 'px'; tip.style.top = (e.clientY + 10) + 'px'; tip.style.display = 'block';
    });
    img.addEventListener('mouseleave', function(){ tip.style.display = 'none'; });
  });
  var hash = decodeURIComponent(location.hash.replace(/^#/, ''));
  hash.split('&').forEach(function(part){
    var kv = part.split('='); if (kv.length !== 2) return;
    if (kv[0] === 'sort'){
      var s = kv[1].split(':'), table = document.getElementById(s[0]);
      if (!table) return;
      var ths = table.tHead.rows[0].cells;
      for (var i = 0; i < ths.length; i++)
        if (ths[i].getAttribute('data-key') === s[1]) sortTable(table, i, s[2] || 'desc');
    } else if (kv[0] === 'class' && select){
      for (var j = 0; j < select.options.length; j++)
        if (select.options[j].getAttribute('data-name') === kv[1]) select.value = select.options[j].value;
    }
  });
  filter(select ? select.value : '');
  root.setAttribute('data-report-ready', '1');
  function countImages(){
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function(i){ return i.complete && i.naturalWidth > 0; }).length;
    root.setAttribute('data-images', ok + '/' + imgs.length);
  }
  window.addEventListener('load', countImages);
  countImages();
})();
"""

#: Registered before anything else runs: counts uncaught errors on ``<html data-js-errors>``.
ERROR_HOOK = ("document.documentElement.setAttribute('data-js-errors','0');"
              "window.addEventListener('error',function(e){var r=document.documentElement;"
              "r.setAttribute('data-js-errors',String(parseInt(r.getAttribute('data-js-errors')||'0')+1));"
              "r.setAttribute('data-js-error-text',String(e.message));});")
