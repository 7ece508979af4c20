//! `--html FILE`: one self-contained page (inline CSS and JS, nothing
//! fetched), written as the run goes, one small script line per request,
//! so memory stays flat; the page renders lazily, so 10,000 requests stay
//! responsive. Every text in it is masked like any other output.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::Row;
use crate::secrets::Secrets;

/// The most of a response body the page keeps per request.
const BODY_SHOWN: usize = 2000;

/// The HTML report being written.
pub struct HtmlReport {
    out: BufWriter<File>,
    started: Instant,
}

/// One request as the page's script receives it.
#[derive(Serialize)]
struct PageRow<'a> {
    c: String,
    n: String,
    r: &'a str,
    /// Start and duration, in milliseconds from the start of the run.
    s: f64,
    d: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    st: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    req: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    m: Option<String>,
    t: &'a [String],
}

/// JSON for inside a `<script>`: no `</script>` or `<!--` can close it.
fn script_json<T: Serialize>(value: &T) -> io::Result<String> {
    Ok(serde_json::to_string(value)?
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--"))
}

impl HtmlReport {
    /// Creates `path` and writes the page's head, styles and script.
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(HEAD.as_bytes())?;
        Ok(HtmlReport {
            out,
            started: Instant::now(),
        })
    }

    /// Adds one request.
    pub fn record(&mut self, row: &Row, secrets: &Secrets) -> io::Result<()> {
        let detail = row.detail();
        let took = row.duration().as_secs_f64() * 1000.0;
        let now = self.started.elapsed().as_secs_f64() * 1000.0;
        let shown = |t: &str| secrets.redact(t).into_owned();
        let page = PageRow {
            c: shown(&row.collection.name),
            n: shown(row.name),
            r: row.result(),
            s: ((now - took).max(0.0) * 10.0).round() / 10.0,
            d: (took * 10.0).round() / 10.0,
            st: detail.map(|d| d.status),
            req: detail.map(|d| shown(&format!("{} {}", d.method, d.url))),
            body: detail
                .filter(|d| !d.response_body.is_empty())
                .map(|d| secrets.excerpt(&d.response_body, BODY_SHOWN)),
            m: row.message.as_deref().map(shown),
            t: &row.request.tags,
        };
        writeln!(self.out, "<script>add({})</script>", script_json(&page)?)
    }

    /// Adds one request of a JSON report (for `report merge`): the reports
    /// keep no start times, so each collection's requests are laid end to
    /// end; `offset` is where this one starts.
    pub fn record_json(&mut self, r: &serde_json::Value, offset: f64) -> io::Result<()> {
        let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let tags = super::merge::tags_of(r);
        let page = PageRow {
            c: text("collection"),
            n: text("request"),
            r: r["result"].as_str().unwrap_or("failed"),
            s: offset,
            d: r["duration_ms"].as_f64().unwrap_or(0.0),
            st: r["status"].as_u64().map(|s| s as u16),
            req: r["method"].as_str().map(|m| format!("{m} {}", text("url"))),
            body: None,
            m: r["message"].as_str().map(str::to_string),
            t: &tags,
        };
        writeln!(self.out, "<script>add({})</script>", script_json(&page)?)
    }

    /// Writes the summary and closes the page.
    pub fn finish(mut self, latency: &impl Serialize, coverage: &impl Serialize) -> io::Result<()> {
        writeln!(
            self.out,
            "<script>done({}, {}, {})</script>\n</body></html>",
            script_json(latency)?,
            script_json(coverage)?,
            (self.started.elapsed().as_secs_f64() * 1000.0).round()
        )?;
        self.out.flush()
    }
}

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reqtest report</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .5em}
#summary span{display:inline-block;margin-right:1.2em;font-weight:600}
.passed{color:#17803d}.failed{color:#c62828}.not_run{color:#8a6d00}
#controls{margin:1em 0}#controls input[type=search]{width:20em;padding:.3em}
details{margin:.6em 0;border:1px solid #ddd;border-radius:4px;padding:.3em .6em}
summary{cursor:pointer;font-weight:600}
.row{display:flex;align-items:center;gap:.6em;font-size:12px;padding:1px 0}
.row .name{width:22em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.row .bar{position:relative;flex:1;height:10px;background:#f3f3f3}
.row .bar i{position:absolute;top:0;height:10px;background:#4f8edc;min-width:2px}
.row.failed .bar i{background:#c62828}.row.not_run .bar i{background:#c9a400}
.failure{border-left:4px solid #c62828;margin:.8em 0;padding:.2em .8em;background:#fff7f7}
.failure pre{white-space:pre-wrap;font-size:12px;margin:.3em 0}
button{margin:.3em 0}
.lat{font-weight:400;color:#555;margin-left:1em}
</style>
<script>
var rows=[],byC={},order=[],SHOW=200;
function add(r){rows.push(r);if(!byC[r.c]){byC[r.c]=[];order.push(r.c)}byC[r.c].push(r)}
function el(t,c,x){var e=document.createElement(t);if(c)e.className=c;if(x!=null)e.textContent=x;return e}
function visible(r){var f=document.getElementById('filter').value.toLowerCase(),o=document.getElementById('failed').checked;
 if(o&&r.r!=='failed')return false;return !f||(r.c+'::'+r.n+' '+(r.t||[]).join(' ')).toLowerCase().indexOf(f)>=0}
function counts(){var k={passed:0,failed:0,not_run:0};rows.forEach(function(r){k[r.r]=(k[r.r]||0)+1});return k}
function render(){var k=counts(),s=document.getElementById('summary');s.textContent='';
 [['passed','passed'],['failed','failed'],['not_run','not run']].forEach(function(p){var e=el('span',p[0],p[1]+': ');var n=el('b',null,String(k[p[0]]));n.id=p[0];e.appendChild(n);s.appendChild(e)});
 s.appendChild(el('span',null,'requests: '+rows.length+(window.TOOK!=null?', '+window.TOOK+' ms':'')));
 var main=document.getElementById('collections');main.textContent='';
 order.forEach(function(c){var all=byC[c].filter(visible);if(!all.length)return;
  var d=el('details');d.open=order.length<=20;var sm=el('summary',null,c+' ('+all.length+')');
  var l=window.LAT&&window.LAT[c];if(l)sm.appendChild(el('span','lat',['p50','p95','p99','max'].map(function(k){return k+' '+l[k+'_ms'].toFixed(1)+' ms'}).join(', ')));
  d.appendChild(sm);var end=Math.max.apply(null,all.map(function(r){return r.s+r.d}))||1,box=el('div','timeline');d.appendChild(box);
  var shown=0;function more(){all.slice(shown,shown+SHOW).forEach(function(r){var row=el('div','row '+r.r);row.dataset.name=c+'::'+r.n;
   row.appendChild(el('span','name',r.n));var b=el('span','bar'),i=el('i');i.style.left=(100*r.s/end)+'%';i.style.width=(100*r.d/end)+'%';
   i.title=r.d+' ms'+(r.st?', '+r.st:'');b.appendChild(i);row.appendChild(b);row.appendChild(el('span','ms',r.d+' ms'));box.appendChild(row)});
   shown+=SHOW;btn.style.display=shown<all.length?'':'none'}
  var btn=el('button',null,'show more');btn.onclick=more;d.appendChild(btn);more();main.appendChild(d)});
 var fl=document.getElementById('failures');fl.textContent='';var failed=rows.filter(function(r){return r.r==='failed'&&visible(r)});
 if(failed.length)fl.appendChild(el('h2',null,'Failures ('+failed.length+')'));
 failed.slice(0,500).forEach(function(r){var f=el('div','failure');f.appendChild(el('b',null,r.c+'::'+r.n));
  if(r.req)f.appendChild(el('div',null,r.req+(r.st?' → '+r.st:'')));f.appendChild(el('pre','message',r.m||''));
  if(r.body){f.appendChild(el('div',null,'response:'));f.appendChild(el('pre',null,r.body))}fl.appendChild(f)});
 var cv=document.getElementById('coverage');cv.textContent='';(window.COV||[]).forEach(function(c){
  cv.appendChild(el('p',null,'OpenAPI coverage of '+c.spec+': '+c.operations[0]+'/'+c.operations[1]+' operations, '+c.responses[0]+'/'+c.responses[1]+' responses'))})}
function done(lat,cov,took){window.LAT=lat;window.COV=cov;window.TOOK=took;render()}
document.addEventListener('DOMContentLoaded',function(){document.getElementById('filter').oninput=render;document.getElementById('failed').onchange=render;render()});
</script></head><body>
<h1>reqtest report</h1>
<div id="summary"></div>
<div id="controls"><input type="search" id="filter" placeholder="filter by name or tag">
<label><input type="checkbox" id="failed"> failed only</label></div>
<div id="collections"></div><div id="failures"></div><div id="coverage"></div>
"#;
