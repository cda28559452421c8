/** The dashboard's stylesheet: served from `<basePath>/assets/arca.css` (CSP: no inline styles). */
export const CSS = `
:root{--fg:#1d2430;--muted:#5d6778;--line:#dde2ea;--bg:#f6f7f9;--card:#fff;--accent:#2458c6;--ok:#1f7a3d;--ok-bg:#e3f4e8;--bad:#b42318;--bad-bg:#fde8e6;--warn:#8a5a00;--warn-bg:#fff3d6;--info:#2458c6;--info-bg:#e6eefc}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
.top{display:flex;gap:24px;align-items:center;padding:10px 24px;background:#1d2430;color:#fff}
.top a{color:#dfe6f3;text-decoration:none;margin-right:14px}.top .brand{font-weight:600;color:#fff}
main{max-width:1180px;margin:0 auto;padding:18px 24px 40px}
h1{font-size:22px;margin:6px 0 16px}h2{font-size:16px;margin:26px 0 10px}
.crumbs{color:var(--muted);font-size:13px;min-height:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin-bottom:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card h2{margin-top:0}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:middle}
th{background:#eef1f5;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:#3b4556}
tr:last-child td{border-bottom:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.muted{color:var(--muted)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;margin:1px 2px}
.badge-ok{color:var(--ok);background:var(--ok-bg)}.badge-bad{color:var(--bad);background:var(--bad-bg)}.badge-warn{color:var(--warn);background:var(--warn-bg)}.badge-info{color:var(--info);background:var(--info-bg)}.badge-muted{color:var(--muted);background:#eef1f5}
form.inline{display:inline}
.btn,button{font:inherit;font-size:13px;padding:4px 11px;border-radius:6px;border:1px solid #c5ccd8;background:#fff;color:var(--fg);cursor:pointer;text-decoration:none;display:inline-block;margin:1px 2px}
.btn:hover,button:hover{background:#f0f3f8}
.btn-primary{background:var(--accent);border-color:var(--accent);color:#fff}.btn-primary:hover{background:#1c48a6}
.btn-danger{color:var(--bad);border-color:#e7b4ae}.btn-danger:hover{background:var(--bad-bg)}
button:disabled{opacity:.5;cursor:not-allowed}
.actions{white-space:nowrap}
.toolbar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:0 0 12px}
.run-progress{display:flex;gap:12px;align-items:center;margin:8px 0}
.run-progress[hidden]{display:none}
progress{width:260px;height:14px}
.notice{padding:10px 14px;border-radius:8px;margin:0 0 14px;border:1px solid}
.notice-ok{background:var(--ok-bg);border-color:#b9e2c5;color:#14532a}.notice-bad{background:var(--bad-bg);border-color:#f3bcb5;color:#7a1a12}.notice-warn{background:var(--warn-bg);border-color:#f1d58e;color:#5c3d00}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.chart{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px}
.chart svg{width:100%;height:auto;display:block}
.legend{font-size:12px;color:var(--muted);margin:4px 8px}.legend .sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:middle}
.sw-size{background:#9db7ea}.sw-dur{background:#c2410c}
.wizard ol.steps{display:flex;gap:8px;padding:0;list-style:none;margin:0 0 14px;flex-wrap:wrap}
.wizard ol.steps li{padding:3px 10px;border-radius:12px;background:#eef1f5;color:var(--muted);font-size:12px}
.wizard ol.steps li.current{background:var(--accent);color:#fff}
fieldset{border:1px solid var(--line);border-radius:8px;margin:0 0 12px;padding:10px 14px}
label{display:block;margin:4px 0}.toolbar label{display:inline-block;margin:0 6px 0 0}input[type=date],select{font:inherit;padding:3px 6px;border:1px solid #c5ccd8;border-radius:6px}input[type=text]{font:inherit;padding:4px 8px;border:1px solid #c5ccd8;border-radius:6px;width:260px}
.pager{margin:10px 0;display:flex;gap:10px;align-items:center}
.foot{max-width:1180px;margin:0 auto;padding:0 24px 24px;color:var(--muted);font-size:12px}
ul.plain{margin:0;padding:0;list-style:none}
@media (max-width:760px){main{padding:12px}table{display:block;overflow-x:auto}.top{gap:10px;padding:10px 12px}.cards{grid-template-columns:1fr}input[type=text]{width:100%}}
`;

/**
 * Progressive enhancement (everything works without it): confirmation dialogs, "run now"
 * through the JSON API with a live progress bar over SSE, and the restore confirmation field.
 */
export const JS = `(function(){
'use strict';
var base=document.body.getAttribute('data-base')||'';
function fmtBytes(n){var u=['B','KiB','MiB','GiB','TiB'],i=0;while(n>=1024&&i<u.length-1){n/=1024;i++}return (i?n.toFixed(1):n)+' '+u[i]}
function box(job){return document.querySelector('.run-progress[data-job="'+CSS.escape(job)+'"]')}
function say(b,t){var s=b.querySelector('.run-status');if(s)s.textContent=t}
function refresh(){return fetch(location.href,{credentials:'same-origin'}).then(function(r){return r.text()}).then(function(t){var d=new DOMParser().parseFromString(t,'text/html');['backups','chart','overview-jobs'].forEach(function(id){var a=document.getElementById(id),b=d.getElementById(id);if(a&&b)a.replaceWith(b)})})}
function follow(job,runId){var b=box(job);if(!b)return;b.hidden=false;var p=b.querySelector('progress');p.removeAttribute('value');say(b,'Starting…');
var es=new EventSource(base+'/api/runs/'+encodeURIComponent(runId)+'/events');
function finish(r){es.close();p.value=p.max=1;b.setAttribute('data-status',r.status);say(b,'Backup '+r.status+(r.status==='completed'?' — '+fmtBytes(r.bytes)+' in '+(r.durationMs/1000).toFixed(1)+' s':r.error?': '+r.error.message:''));var btn=document.querySelector('form[data-run] button');if(btn)btn.disabled=false;refresh()}
es.addEventListener('state',function(e){var s=JSON.parse(e.data);if(s.status!=='running'&&s.result)finish(s.result)});
es.addEventListener('progress',function(e){var d=JSON.parse(e.data);if(d.expectedBytes){p.max=d.expectedBytes;p.value=d.bytes}say(b,(d.artifact?d.artifact+': ':'')+d.phase+' '+fmtBytes(d.bytes)+(d.rate?' at '+fmtBytes(d.rate)+'/s':''))});
es.addEventListener('destination',function(e){var d=JSON.parse(e.data);say(b,d.name+': '+d.status)});
es.addEventListener('done',function(e){finish(JSON.parse(e.data))});
es.onerror=function(){if(es.readyState===2)say(b,'Lost the progress stream; reload the page.')}}
document.addEventListener('submit',function(ev){var f=ev.target;var msg=f.getAttribute('data-confirm');if(msg&&!window.confirm(msg)){ev.preventDefault();return}
var run=f.getAttribute('data-run');if(!run)return;ev.preventDefault();var btn=f.querySelector('button');btn.disabled=true;
fetch(base+'/api/jobs/'+encodeURIComponent(run)+'/runs',{method:'POST',credentials:'same-origin',headers:{'content-type':'application/json'},body:'{}'}).then(function(r){return r.json().then(function(j){return {ok:r.ok,j:j}})}).then(function(x){if(!x.ok){btn.disabled=false;var b=box(run);if(b){b.hidden=false;say(b,x.j.error?x.j.error.message:'Could not start the backup.')}return}follow(run,x.j.runId)})['catch'](function(){btn.disabled=false})});
Array.prototype.forEach.call(document.querySelectorAll('[data-follow-run]'),function(el){follow(el.getAttribute('data-job'),el.getAttribute('data-follow-run'))});
Array.prototype.forEach.call(document.querySelectorAll('input[data-confirm-name]'),function(inp){var btn=inp.form.querySelector('button[type=submit]');function upd(){btn.disabled=inp.value!==inp.getAttribute('data-confirm-name')}inp.addEventListener('input',upd);upd()});
})();
`;
