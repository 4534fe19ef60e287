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

# The failure browser (failures.html): galleries, placeholders, the enlarged view.
BROWSER_CSS = """
kbd{border:1px solid var(--bd);border-radius:3px;padding:0 4px;background:#fff;font-size:11px}
.gallery-sec{margin:10px 0 18px}
ul.gallery{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:8px}
li.gi{background:#fff;border:1px solid var(--bd);border-radius:4px;padding:6px;width:min-content;
 min-width:150px;font-size:11px;cursor:pointer}
li.gi:focus{outline:3px solid var(--acc);outline-offset:1px}
li.gi.current{border-color:var(--acc)}
.gims{display:flex;gap:4px}
.gims figure{margin:0;text-align:center;color:var(--mut)}
.gims img{width:96px;height:96px;object-fit:contain;image-rendering:pixelated;display:block;background:#eee}
.ph{width:96px;height:96px;display:flex;flex-direction:column;justify-content:center;align-items:center;
 background:repeating-linear-gradient(45deg,#f4f4f4,#f4f4f4 6px,#e9e9e9 6px,#e9e9e9 12px);color:#a60;
 font-size:10px;text-align:center;overflow:hidden;padding:2px}
.ph small{color:var(--mut);font-size:9px;word-break:break-word}
.cap{margin-top:4px;color:var(--fg)} .sid{color:var(--mut);word-break:break-all}
table.top5{margin-top:3px;font-size:10px;width:100%} table.top5 td{padding:0 4px}
table.top5 tr.true td{font-weight:700;background:#eaf4ea}
table.top5 tr.out td{border-top:2px solid var(--bd);background:#fbeaea}
#viewer{position:fixed;inset:0;background:rgba(20,24,32,.82);display:flex;align-items:center;
 justify-content:center;z-index:10}
#viewer[hidden]{display:none}
#viewer .vbox{background:#fff;border-radius:6px;padding:14px 18px;max-width:92vw;max-height:92vh;overflow:auto;
 position:relative}
#viewer-ims{display:flex;gap:10px;flex-wrap:wrap}
#viewer-ims figure{margin:0;text-align:center;font-size:12px;color:var(--mut)}
#viewer-ims img{width:320px;height:320px;object-fit:contain;image-rendering:pixelated;background:#eee}
#viewer-ims .ph{width:320px;height:320px}
#viewer-close{position:absolute;top:4px;right:8px;font-size:20px;border:0;background:none;cursor:pointer}
"""

BROWSER_JS = """
(function(){
  var items=Array.prototype.slice.call(document.querySelectorAll('li.gi'));
  var viewer=document.getElementById('viewer'),ims=document.getElementById('viewer-ims');
  var cap=document.getElementById('viewer-cap'),pos=document.getElementById('viewer-pos');
  var current=-1,opener=null;
  function select(i){
    if(!items.length)return;
    i=Math.max(0,Math.min(items.length-1,i));
    if(current>=0)items[current].classList.remove('current');
    current=i;items[i].classList.add('current');
    if(viewer.hidden){items[i].focus();items[i].scrollIntoView({block:'nearest'});}else{fill();}
  }
  function fill(){
    var it=items[current];ims.innerHTML='';
    it.querySelectorAll('.gims figure').forEach(function(f){
      var c=f.cloneNode(true),img=c.querySelector('img');
      if(img){img.removeAttribute('loading');}
      ims.appendChild(c);
    });
    cap.textContent=it.querySelector('.cap').textContent+' \\u00b7 '+it.getAttribute('data-sample');
    var sec=it.closest('.gallery-sec');
    pos.textContent=(sec?sec.querySelector('h3').firstChild.textContent.trim()+': ':'')+
      'item '+(Array.prototype.indexOf.call(it.parentNode.children,it)+1)+' of '+it.parentNode.children.length;
  }
  function open(i){opener=items[i];current=i;viewer.hidden=false;fill();
    document.getElementById('viewer-close').focus();}
  function close(){viewer.hidden=true;ims.innerHTML='';if(current>=0){items[current].focus();}}
  items.forEach(function(it,i){
    it.addEventListener('click',function(){select(i);open(i);});
    it.addEventListener('focus',function(){if(current!==i){if(current>=0)items[current].classList.remove('current');
      current=i;it.classList.add('current');}});
  });
  document.getElementById('viewer-close').addEventListener('click',close);
  viewer.addEventListener('click',function(e){if(e.target===viewer)close();});
  document.addEventListener('keydown',function(e){
    if(e.altKey||e.ctrlKey||e.metaKey)return;
    var k=e.key,next=(k==='ArrowRight'||k==='ArrowDown'||k==='j'),prev=(k==='ArrowLeft'||k==='ArrowUp'||k==='k');
    if(!viewer.hidden){
      if(k==='Escape'){e.preventDefault();close();}
      else if(next){e.preventDefault();select(current+1);}
      else if(prev){e.preventDefault();select(current-1);}
      else if(k==='Tab'){e.preventDefault();document.getElementById('viewer-close').focus();}
      return;
    }
    var onItem=document.activeElement&&document.activeElement.classList.contains('gi');
    if(next||prev){
      if(!onItem&&(k==='j'||k==='k')){e.preventDefault();select(current<0?0:current+(next?1:-1));return;}
      if(onItem){e.preventDefault();select(current+(next?1:-1));}
    }else if(onItem&&(k==='Enter'||k===' ')){e.preventDefault();open(current);}
    else if(onItem&&k==='Home'){e.preventDefault();select(0);}
    else if(onItem&&k==='End'){e.preventDefault();select(items.length-1);}
  });
})();
"""
