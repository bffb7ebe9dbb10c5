#!/usr/bin/env python3
"""Writes three hostile XLSX files into DIR for bench/hostile.sh (standard library only):
shared.xlsx (a shared-strings table claiming ten trillion strings), farright.xlsx (a cell at
XFD1048576) and padded.xlsx (700 MB of whitespace, about 2 MB packed).

    python3 bench/bombs.py DIR
"""
import os
import sys
import zipfile

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CT = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>')
WB = (f'<?xml version="1.0"?><workbook xmlns="{NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
      'relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
RELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>')


def workbook(path, sheet=None, shared=None, padded_rows=0):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT)
        z.writestr("xl/workbook.xml", WB)
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        if shared:
            z.writestr("xl/sharedStrings.xml", shared)
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            f.write(f'<worksheet xmlns="{NS}"><sheetData>'.encode())
            if sheet:
                f.write(sheet.encode())
            chunk = ("<row>" + " " * 1000 + "</row>").encode() * 1000
            for _ in range(padded_rows):
                f.write(chunk)
            f.write(b"</sheetData></worksheet>")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    workbook(os.path.join(out, "shared.xlsx"), '<row r="1"><c r="A1" t="s"><v>0</v></c></row>',
             f'<sst xmlns="{NS}" count="10000000000000" uniqueCount="10000000000000"><si><t>x</t></si></sst>')
    workbook(os.path.join(out, "farright.xlsx"), '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    workbook(os.path.join(out, "padded.xlsx"), padded_rows=700)


if __name__ == "__main__":
    main()
