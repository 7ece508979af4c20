"""Reads a JUnit XML file with junitparser (a consumer none of us wrote) and
prints what it understood as JSON, for tests/reports.rs to check."""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    cases = []
    for case in suite:
        result = "passed"
        message = None
        for r in case.result:
            if isinstance(r, Failure):
                result, message = "failure", r.message
            elif isinstance(r, Skipped):
                result, message = "skipped", r.message
            elif isinstance(r, Error):
                result, message = "error", r.message
        cases.append({"name": case.name, "classname": case.classname, "time": case.time,
                      "result": result, "message": message, "text": (case.result[0].text if case.result else None)})
    suites.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures,
                   "skipped": suite.skipped, "errors": suite.errors, "cases": cases})
print(json.dumps({"tests": xml.tests, "failures": xml.failures, "skipped": xml.skipped, "suites": suites}))
