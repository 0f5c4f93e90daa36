#!/usr/bin/env python3
"""Reference renderings of Jinja chat templates with Jinja2 configured as Hugging Face
transformers configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, the {% generation %} block, tojson with ensure_ascii=False, raise_exception,
strftime_now). Offline developer tool: the tests never need it (its outputs are committed
in tests/tokenizers/data/), except the differential test, which skips without python3/jinja2.

  jinja_reference.py update FIXTURE.json   fill "expected" / "error" of every case in place
  jinja_reference.py render FIXTURE.json   print the renderings of every case as JSON

A fixture is {"cases": [{"name", "template" | "template_file", "vars", "date"}, ...]}:
template_file is a file name in $SPECLAB_DATA_DIR/chat_templates (default: ../shared/data
beside the source tree); vars are the render variables (messages, add_generation_prompt,
bos_token, ...); date (YYYY-MM-DD) is what strftime_now() sees.
"""
import datetime
import json
import os
import sys

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env(date):
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise TemplateError(message)

    now = datetime.datetime.strptime(date, "%Y-%m-%d")
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: now.strftime(fmt)
    return env


def data_dir():
    d = os.environ.get("SPECLAB_DATA_DIR")
    if d:
        return d
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def render_case(case):
    if "template_file" in case:
        with open(os.path.join(data_dir(), "chat_templates", case["template_file"]), encoding="utf-8") as f:
            src = f.read()
    else:
        src = case["template"]
    variables = {"tools": None, "documents": None}
    variables.update(case.get("vars", {}))
    try:
        return {"expected": make_env(case.get("date", "2024-07-26")).from_string(src).render(**variables)}
    except Exception as e:  # every Jinja2 / Python error is an expected error
        return {"error": type(e).__name__ + ": " + str(e)}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("update", "render"):
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[2], encoding="utf-8") as f:
        fixture = json.load(f)
    results = [render_case(c) for c in fixture["cases"]]
    if sys.argv[1] == "render":
        json.dump(results, sys.stdout, ensure_ascii=False)
        return 0
    for c, r in zip(fixture["cases"], results):
        c.pop("expected", None)
        c.pop("error", None)
        c.update(r)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
