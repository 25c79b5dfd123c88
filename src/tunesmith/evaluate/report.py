"""What eval and compare leave behind: atomic JSON/JSONL files, a rich terminal table, and one self-contained HTML page.

The HTML embeds its matplotlib figures as base64 PNGs, so the single file can be mailed or opened anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Sequence

from tunesmith.atomic import write_jsonl, write_text

# Columns of the comparison table: (metric key, header). `score` is the headline the advice uses.
COLUMNS = (
    ("score", "score"),
    ("field_acc", "field match"),
    ("all_fields", "all fields"),
    ("format_valid", "format ok"),
    ("exact", "exact"),
    ("rouge_l", "ROUGE-L"),
    ("chrf", "chrF"),
    ("semantic", "semantic"),
    ("stopped", "stopped"),
)


_SHORT = {"field_acc": "field", "all_fields": "all", "format_valid": "fmt", "rouge_l": "R-L", "semantic": "sem",
          "stopped": "stop"}


def _cell(row: dict, key: str, digits: int = 3) -> str:
    v = row.get(key)
    return "–" if v is None else f"{v:.{digits}f}"


def _present(rows: Sequence[dict]) -> list[tuple[str, str]]:
    return [(k, h) for k, h in COLUMNS if any(k in r for r in rows)]


def rich_table(rows: Sequence[dict], title: str = "held-out comparison"):
    """The comparison as a rich Table (one row per approach); `hits` = answers that ran into max_new_tokens."""
    from rich.table import Table

    from rich import box

    # Short headers, two decimals and no vertical rules keep the table inside an 80-column terminal; three decimals and
    # the exact-match column are in the JSON and HTML reports.
    cols = [(k, _SHORT.get(k, h)) for k, h in _present(rows) if k != "exact"]
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False)
    table.add_column("approach", no_wrap=True)
    for _, header in cols:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("hits", justify="right", no_wrap=True)
    best = max(r.get("score", 0.0) for r in rows)
    for r in rows:
        name = r.get("name", r.get("key", "?"))
        style = "bold green" if r.get("score") == best else None
        table.add_row(name, *[_cell(r, k, 2) for k, _ in cols], str(r.get("max_tokens_hits", "–")), style=style)
    return table


def print_comparison(result: dict, console=None) -> None:
    from tunesmith.output import console as make_console
    from tunesmith.output import print_table

    console = console or make_console()
    print_table(console, rich_table(result["rows"]))
    d = result["dataset"]
    console.print(f"{d['n_train']} training / {d['n_eval']} held-out examples; fields: "
                  f"{', '.join(d['schema']['fields']) or 'none (free text)'}")
    if d["overlap"]["count"]:
        console.print(f"[yellow]warning: {d['overlap']['count']} held-out examples are also in the training set: "
                      f"{', '.join(d['overlap']['ids'][:10])}[/yellow]")
    f = result.get("forgetting")
    if f:
        console.print(f"perplexity on general text: base {f['base_ppl']:.2f}, tuned {f['tuned_ppl']:.2f} "
                      f"({f['increase_pct']:+.1f}%, {f['n_tokens']} tokens)")
    adv = result["advice"]
    console.print(f"\n[bold]ADVICE: {adv['verdict']}[/bold]")
    for n in adv["notes"]:
        colour = "yellow" if n["level"] == "warning" else "cyan"
        console.print(f"[{colour}]- {n['message']}[/{colour}]", highlight=False)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figures(result: dict) -> dict[str, str]:
    """Base64 PNGs: metric bars per approach, loss curves from the run, and the forgetting perplexities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = {}
    rows = result["rows"]
    metrics = [(k, h) for k, h in _present(rows) if k in ("score", "format_valid", "rouge_l", "chrf", "semantic")]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / max(1, len(metrics))
    x = np.arange(len(rows))
    for i, (k, h) in enumerate(metrics):
        ax.bar(x + i * width, [r.get(k, 0.0) for r in rows], width, label=h)
    ax.set_xticks(x + width * (len(metrics) - 1) / 2, [r["name"] for r in rows], rotation=15)
    ax.set_ylim(0, 1.15)  # headroom so the legend never covers a bar at 1.0
    ax.legend(ncols=len(metrics), fontsize=8, loc="upper left")
    ax.set_title("same held-out set, same metrics")
    out["metrics"] = _png(fig)
    curve = result.get("curve") or []
    series = sorted({k for c in curve for k, v in c.items() if k != "step" and isinstance(v, (int, float))
                     and ("loss" in k or k.startswith("eval_"))})
    if series:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for k in series:
            pts = [(c["step"], c[k]) for c in curve if isinstance(c.get(k), (int, float))]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None, label=k)
        ax.set_xlabel("training step")
        ax.legend()
        ax.set_title("training curves (eval loss rising while loss falls = overfitting)")
        out["curve"] = _png(fig)
    f = result.get("forgetting")
    if f:
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar(["base", "tuned"], [f["base_ppl"], f["tuned_ppl"]], color=["#888", "#c60"])
        ax.set_ylabel("perplexity")
        ax.set_title(f"general text ({f['increase_pct']:+.1f}%)")
        out["forgetting"] = _png(fig)
    return out


def html_report(result: dict, title: str = "tunesmith compare") -> str:
    """A self-contained HTML page: the advice, the table, comparisons with intervals, the figures."""
    e = html.escape
    rows = result["rows"]
    cols = _present(rows)
    head = "".join(f"<th>{e(h)}</th>" for _, h in cols)
    body = "".join(
        f"<tr><td>{e(r['name'])}</td>" + "".join(f"<td>{_cell(r, k)}</td>" for k, _ in cols)
        + f"<td>{r.get('max_tokens_hits', '–')}</td></tr>" for r in rows)
    adv = result["advice"]
    notes = "".join(f"<li class='{e(n['level'])}'>{e(n['message'])}</li>" for n in adv["notes"])
    fields = result["dataset"]["schema"]["fields"]
    per_field = ""
    if fields:
        from tunesmith.evaluate.fields import canon_key

        head_f = "".join(f"<th>{e(f)}</th>" for f in fields)
        body_f = "".join(f"<tr><td>{e(r['name'])}</td>" + "".join(
            f"<td>{_cell(r, 'field:' + canon_key(f))}</td>" for f in fields) + "</tr>" for r in rows)
        per_field = f"<h3>Exact match per field</h3><table><tr><th>approach</th>{head_f}</tr>{body_f}</table>"
    comps = "".join(
        f"<tr><td>{e(name)}</td><td>{c['diff']:+.3f}</td><td>{c['ci95'][0]:+.3f} .. {c['ci95'][1]:+.3f}</td>"
        f"<td>{c['wins']} / {c['losses']} / {c['ties']}</td></tr>" for name, c in adv["comparisons"].items())
    figs = "".join(f"<figure><img alt='{e(k)}' src='data:image/png;base64,{v}'></figure>" for k, v in figures(result).items())
    d = result["dataset"]
    overlap = (f"<p class='warning'>{d['overlap']['count']} held-out examples also appear in the training set: "
               f"{e(', '.join(d['overlap']['ids']))}</p>" if d["overlap"]["count"] else "")
    f = result.get("forgetting")
    forget = (f"<p>Perplexity on general text ({f['n_tokens']} tokens): base {f['base_ppl']:.2f}, tuned "
              f"{f['tuned_ppl']:.2f} ({f['increase_pct']:+.1f}%).</p>" if f else "<p>Forgetting check skipped.</p>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(title)}</title><style>
body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child{{text-align:left}}.warning{{color:#a60}}.advice{{color:#036}}img{{max-width:100%}}
</style></head><body>
<h1>{e(title)}</h1>
<h2>Advice: {e(adv['verdict'])}</h2><ul>{notes}</ul>
<h2>Results</h2>
<p>{d['n_train']} training examples, {d['n_eval']} held-out examples; fields:
{e(', '.join(d['schema']['fields']) or 'none (free text)')}; score = {e(result['settings'].get('primary_metric', ''))}.</p>
{overlap}
<table><tr><th>approach</th>{head}<th>max-token hits</th></tr>{body}</table>
{per_field}
<h3>Paired comparisons of score (bootstrap over examples)</h3>
<table><tr><th>A vs B</th><th>mean diff</th><th>95% CI</th><th>wins / losses / ties</th></tr>{comps}</table>
<h2>Forgetting</h2>{forget}
<h2>Figures</h2>{figs}
</body></html>
"""


def save_comparison(result: dict, out_dir: str | Path, predictions: dict[str, list[dict]]) -> dict[str, Path]:
    """report.json, report.html and predictions/<row>.jsonl under out_dir; returns the paths written."""
    out = Path(out_dir)
    paths = {"json": out / "report.json", "html": out / "report.html"}
    for key, rows in predictions.items():
        write_jsonl(out / "predictions" / f"{key}.jsonl", rows)
    write_text(paths["json"], json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_text(paths["html"], html_report(result))
    return paths


__all__ = ["COLUMNS", "figures", "html_report", "print_comparison", "rich_table", "save_comparison"]
