#!/usr/bin/python3
"""cpython-outcomes.py - one run of CPython's regrtest, as sorted lines
"ID OUTCOME" that two runs can be compared by (tests/tools/cpython-suites).

    cpython-outcomes.py RUN.xml RUN.log     (--junit-xml file, -v output)

Each test case gives "test.test_socket.Cls.test_x ok|skipped|failure|error|
xfail|uxsuccess", from the JUnit XML regrtest writes. A failing subtest
leaves no named case there (unittest reports it beside the XML writer), so
the FAIL:/ERROR: headers of the verbose log add "ID::[subtest] failure".
Spaces in a name ("setUpClass (test.mod.Cls)") become underscores.
Each test file also gives "file:test_x passed|failed|env_changed|skipped|
timeout|crashed|...", from regrtest's progress lines: a file whose worker
died or timed out has no XML at all, and that must show as a difference.
"""
import re
import sys
import xml.etree.ElementTree as ET

PROGRESS = re.compile(r'\[\s*\d+/\d+(?:/\d+)?\] (test_\S+) (.*)$')
HEADER = re.compile(r'^(FAIL|ERROR|UNEXPECTED SUCCESS): \S+ \((\S+)\)(.*)$')


def case_outcome(tc):
    kinds = {child.tag for child in tc}
    for tag, name in (('error', 'error'), ('failure', 'failure'),
                      ('skipped', 'skipped'), ('output', 'xfail'),
                      ('outcome', 'uxsuccess')):
        if tag in kinds:
            return name
    return 'ok'


def file_status(rest):
    rest = rest.strip()
    if 'env changed' in rest:
        return 'env_changed'
    if 'timed out' in rest or rest.startswith('timeout'):
        return 'timeout'
    if 'crashed' in rest:
        return 'crashed'
    if rest.startswith('run no tests'):
        return 'no_tests'
    if rest.startswith('resource denied'):
        return 'resource_denied'
    word = rest.split(' ', 1)[0] if rest else 'unknown'
    return word.rstrip(':')


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    out = {}
    try:
        root = ET.parse(argv[1]).getroot()
        for tc in root.iter('testcase'):
            name = tc.get('name')
            if name:
                # setUpClass/setUpModule failures are named like
                # "setUpClass (test.mod.Cls)": keep the whole name
                out[name.replace(' ', '_')] = case_outcome(tc)
    except (OSError, ET.ParseError) as e:
        out['junit-xml'] = 'unreadable:' + type(e).__name__
    with open(argv[2], encoding='utf-8', errors='replace') as log:
        for line in log:
            line = line.rstrip('\n')
            m = PROGRESS.search(line)
            if m:
                out['file:' + m.group(1)] = file_status(m.group(2))
                continue
            m = HEADER.match(line)
            if m:
                kind = {'FAIL': 'failure', 'ERROR': 'error',
                        'UNEXPECTED SUCCESS': 'uxsuccess'}[m.group(1)]
                ident = m.group(2)
                if m.group(3).strip():
                    ident += '::' + m.group(3).strip().replace(' ', '_')
                # a whole case's failure is in the XML already; a
                # subtest's ("ID [msg] (i=1)") is only here
                out.setdefault(ident, kind)
    for ident in sorted(out):
        print(ident, out[ident])
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
