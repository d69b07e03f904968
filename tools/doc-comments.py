#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""doc-comments.py HEADER... — mark the header comments that document a
declaration as Doxygen comments (/* → /**), in place.

A comment block documents a declaration when the next non-blank line after it
declares something (CR_API, typedef, struct, enum, #define of a public name).
Section rulers (/* ---- x ---- */), the file's opening comment and comments
inside a body are left alone. Idempotent: run it after editing a header.
"""
import re
import sys

DECL = re.compile(r'^\s*(CR_API\b|typedef\b|struct\s+\w+\s*\{|enum\b|#define\s+CR_[A-Z])')
RULER = re.compile(r'^/\*\s*-{3,}')


def convert(text):
    lines = text.split('\n')
    out = list(lines)
    i = 0
    first_comment_seen = False
    while i < len(lines):
        line = lines[i]
        if line.startswith('/*') and not line.startswith('/**'):
            # find the comment's end
            j = i
            while '*/' not in lines[j]:
                j += 1
            is_file_header = not first_comment_seen
            first_comment_seen = True
            k = j + 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            blank_gap = k > j + 1
            if (not is_file_header and not RULER.match(line) and not blank_gap
                    and k < len(lines) and DECL.match(lines[k])):
                out[i] = '/**' + line[2:]
            i = j + 1
            continue
        if line.startswith('/*'):
            first_comment_seen = True
        i += 1
    return '\n'.join(out)


for path in sys.argv[1:]:
    with open(path) as f:
        text = f.read()
    new = convert(text)
    if new != text:
        with open(path, 'w') as f:
            f.write(new)
