"""Inline CSS and JavaScript of the HTML report (no external assets, no network)."""

CSS = """
:root{--fg:#1d2330;--mut:#667;--bd:#d8dce3;--bg:#fafbfc;--acc:#1f5fa8}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);
 background:var(--bg);margin:0}
header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px} header p{margin:2px 0 0;color:#c9d1de;font-size:12px}
nav{padding:8px 24px;background:#eef1f5;border-bottom:1px solid var(--bd);font-size:13px}
nav a{margin-right:12px;color:var(--acc);text-decoration:none}
main{padding:8px 24px 40px;max-width:1500px}
h2{font-size:18px;margin:26px 0 8px;border-bottom:2px solid var(--bd);padding-bottom:4px}
h3{font-size:15px;margin:0 0 6px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid var(--bd);padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#eef1f5;position:sticky;top:0}
td.l,th.l{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:hover{background:#dde3ec}
th[aria-sort=ascending]::after{content:" \\25B2"} th[aria-sort=descending]::after{content:" \\25BC"}
td.na{color:#9aa;font-style:italic} td.err{color:#b22}
td.best{font-weight:700;background:#eaf4ea}
.dir{color:var(--mut);font-weight:400;font-size:11px}
.wrap{overflow-x:auto;max-width:100%}
.card{background:#fff;border:1px solid var(--bd);border-radius:6px;padding:12px 16px;margin:18px 0}
.card>h2{margin-top:0}
.meta{color:var(--mut);font-size:12px;margin-bottom:8px}
.probe{border-top:1px solid #eee;padding:10px 0}
.notruns{display:flex;flex-wrap:wrap;gap:6px;padding:8px 0}
.notrun{border:1px dashed var(--bd);border-radius:4px;padding:2px 8px;color:#889;font-size:12px}
.figs{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure.fig{margin:0;background:#fff;border:1px solid #e6e9ee;border-radius:4px;padding:6px}
figure.fig .t{font-weight:600;font-size:13px;margin-bottom:2px}
figure.fig figcaption{font-size:11px;color:var(--mut)}
figure.fig figcaption a{color:var(--acc)}
.examples{display:flex;flex-wrap:wrap;gap:6px}
.examples figure{margin:0;text-align:center;font-size:10px;color:var(--mut)}
.examples img{max-width:160px;max-height:160px;image-rendering:pixelated;display:block}
.note{color:#a60;font-size:12px}
.errbox{color:#b22;background:#fff4f4;border:1px solid #f0caca;padding:6px 8px;border-radius:4px;
 white-space:pre-wrap;font-size:12px}
details summary{cursor:pointer;color:var(--acc);font-size:12px}
svg.chart{font-family:inherit;display:block}
svg .pa{fill:#fff;stroke:#c4c9d2} svg .gr{stroke:#edf0f3} svg .ax{stroke:#889}
svg .dg{stroke:#aab;stroke-dasharray:3 3}
svg .tk{font-size:10px;fill:#445} svg .al{font-size:11px;fill:#222} svg .lg{font-size:10.5px;fill:#222}
"""

JS = """
(function(){
  function key(td){var v=td.getAttribute('data-v');return v===null||v===''?null:parseFloat(v);}
  function sortBy(th){
    var table=th.closest('table'),body=table.tBodies[0];
    var idx=Array.prototype.indexOf.call(th.parentNode.children,th);
    var numeric=th.getAttribute('data-type')==='num';
    var cur=th.getAttribute('aria-sort');
    var desc;
    if(cur===null){desc=numeric?th.getAttribute('data-hib')!=='0':false;}
    else{desc=cur==='ascending';}
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=a.cells[idx],y=b.cells[idx];
      if(numeric){
        var p=key(x),q=key(y);
        if(p===null&&q===null)return 0; if(p===null)return 1; if(q===null)return -1;
        return desc?q-p:p-q;
      }
      var s=x.textContent.localeCompare(y.textContent);return desc?-s:s;
    });
    rows.forEach(function(r){body.appendChild(r);});
    Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',desc?'descending':'ascending');
  }
  document.querySelectorAll('table.sortable th').forEach(function(th){
    th.addEventListener('click',function(){sortBy(th);});
  });
})();
"""
