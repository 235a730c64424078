"""Every page in a real browser: it loads without console errors and shows its heading; the city page
shows Turku's 2029 figures; and /verify verifies a good receipt and refuses one with a changed character.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Demo, Site

# The steps /verify shows, in order (api/web/static/verify.js).
PARSE, KEY, SIGNATURE, CHECKPOINT, LEAF, INCLUSION, ENTRY = range(1, 8)


def _page(demo: Demo, which: str) -> tuple[str, str | re.Pattern[str]]:
    """The path of page ``which`` and the heading it must show."""
    pages: dict[str, tuple[str, str | re.Pattern[str]]] = {
        "home": ("/", "The registry at a glance"),
        "projects": ("/projects", "Projects"),
        "project": (f"/projects/{demo.project}", demo.project_name),
        "batch": (f"/batches/{demo.batch}", f"Batch {demo.batch}"),
        "findings": ("/findings", re.compile(r"findings", re.IGNORECASE)),
        "trace": (f"/trace/{demo.retired_unit}", re.compile(re.escape(demo.retired_unit))),
        "city": ("/cities/turku/2029", re.compile(r"Turku.*2029|2029.*Turku", re.DOTALL)),
        "verify": ("/verify", "Verify a receipt"),
    }
    return pages[which]


@pytest.mark.parametrize("which", ["home", "projects", "project", "batch", "findings", "trace", "city", "verify"])
def test_every_page_loads_without_errors_and_shows_its_heading(site: Site, demo: Demo, which: str) -> None:
    path, heading = _page(demo, which)
    page = site.open(path)
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("h1")).to_have_text(heading)
    expect(page).to_have_title(re.compile(r"Carbon removal registry"))


def _figures(text: str) -> str:
    """``text`` with thousands separators dropped (comma, space, thin or no-break space): 129 000 → 129000."""
    return re.sub(r"(?<=\d)[,\s\u202f\u2009\u00a0](?=\d{3}\b)", "", text)


def test_the_turku_2029_statement_shows_the_scenarios_figures(site: Site) -> None:
    """Scenario 1 of shared/data/cities/scenarios.md: gross 129,000, in-boundary 40,000, retired 89,000, net 0."""
    page = site.open("/cities/turku/2029")
    figures = page.locator("dl.figures > div")
    shown = {
        label: _figures(figures.filter(has=page.locator("dt", has_text=label)).locator("dd").first.inner_text())
        for label in ("Gross emissions", "In-boundary removals", "Retired credits", "Net emissions")
    }
    assert shown == {
        "Gross emissions": "129000 t",
        "In-boundary removals": "40000 t",
        "Retired credits": "89000 t",
        "Net emissions": "0 t",
    }


def test_the_city_page_fits_a_phone(site: Site) -> None:
    site.page.set_viewport_size({"width": 375, "height": 812})
    page = site.open("/cities/turku/2029")
    expect(page.locator("h1")).to_be_visible()
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375, f"the page is {wide} px wide on a 375 px screen: it scrolls sideways"


# --- /verify ---------------------------------------------------------------------------------------


def _receipt(demo: Demo, index: int) -> str:
    answer = httpx.get(f"{demo.url}/v1/log/entries/{index}/receipt")
    answer.raise_for_status()
    return answer.text


def _verdict(page: Page, verdict: str) -> str:
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", verdict)
    return page.locator("#verdict").inner_text()


def _steps(page: Page) -> list[str]:
    return [item.get_attribute("data-status") or "" for item in page.locator("#steps > li").all()]


def test_a_receipt_fetched_by_entry_index_verifies(site: Site, demo: Demo) -> None:
    page = site.open(f"/verify?entry={demo.retirement}")
    verdict = _verdict(page, "verified")
    assert f"Verified: entry {demo.retirement} is in the log at size {demo.size}" in verdict
    assert _steps(page) == ["pass"] * 7
    expect(page.locator("#steps > li").nth(ENTRY - 1)).to_contain_text('event type "retirement"')
    expect(page.locator("#entry-json")).to_contain_text('"type": "retirement"')
    expect(page.locator("#verdict")).to_have_attribute("aria-live", "polite")
    vkey = httpx.get(f"{demo.url}/log/vkey").text.strip()
    expect(page.get_by_label("The log's verifier key")).to_have_value(vkey)


def test_a_pasted_receipt_verifies(site: Site, demo: Demo) -> None:
    page = site.open("/verify")
    page.get_by_label("Receipt", exact=True).fill(_receipt(demo, 0))
    page.get_by_role("button", name="Verify", exact=True).click()
    assert "Verified: entry 0 is in the log" in _verdict(page, "verified")
    assert _steps(page) == ["pass"] * 7


def test_a_receipt_file_is_read_in_the_browser_and_verifies(site: Site, demo: Demo, tmp_path: Path) -> None:
    file = tmp_path / "entry.tlog-proof"
    file.write_text(_receipt(demo, demo.size - 1))
    page = site.open("/verify")
    page.get_by_label("Open a receipt file").set_input_files(file)
    assert f"Verified: entry {demo.size - 1} is in the log at size {demo.size}" in _verdict(page, "verified")


def _change(text: str, at: int) -> str:
    """``text`` with the character at ``at`` replaced by another one."""
    return text[:at] + ("B" if text[at] == "A" else "A") + text[at + 1 :]


def _other_digit(text: str) -> str:
    """``text`` with its last digit changed to its neighbour (…0 ↔ …1, …2 ↔ …3, …)."""
    return text[:-1] + str(int(text[-1]) ^ 1)


def _tampered(receipt: str, where: str) -> str:
    """``receipt`` with one character changed in the middle of the part named ``where``."""
    head, _, note = receipt.partition("\n\n")
    lines = head.split("\n")
    note_lines = note.split("\n")
    if where == "signature":  # the log's signature line: "— <name> base64(key ID ‖ signature)"
        line = note_lines[-2]
        return receipt.replace(line, _change(line, len(line) - 40))
    if where == "root":  # the checkpoint's third line
        return receipt.replace(note_lines[2], _change(note_lines[2], 10))
    if where == "size":  # the checkpoint's second line, its last digit
        return receipt.replace(f"\n{note_lines[1]}\n", f"\n{_other_digit(note_lines[1])}\n")
    if where == "proof":
        return receipt.replace(lines[4], _change(lines[4], 20))
    if where == "entry":  # the "extra" line
        return receipt.replace(lines[1], _change(lines[1], len(lines[1]) // 2))
    if where == "index":
        return receipt.replace(lines[2], _other_digit(lines[2]))
    raise AssertionError(where)


@pytest.mark.parametrize(
    ("where", "step", "why"),
    [
        ("signature", SIGNATURE, "does not verify"),
        ("root", SIGNATURE, "does not verify"),
        ("size", SIGNATURE, "does not verify"),
        ("proof", INCLUSION, "not the checkpoint's root"),
        ("entry", INCLUSION, "not the checkpoint's root"),
        ("index", INCLUSION, "not the checkpoint's root|needs"),
    ],
)
def test_a_receipt_with_one_changed_character_is_not_verified(
    site: Site, demo: Demo, where: str, step: int, why: str
) -> None:
    good = _receipt(demo, demo.retirement)
    bad = _tampered(good, where)
    assert len(bad) == len(good) and sum(a != b for a, b in zip(good, bad, strict=True)) == 1
    page = site.open("/verify")
    page.get_by_label("Receipt", exact=True).fill(bad)
    page.get_by_role("button", name="Verify", exact=True).click()
    verdict = _verdict(page, "failed")
    assert f"Not verified: step {step}" in verdict
    assert re.search(why, verdict), verdict
    assert _steps(page) == ["pass"] * (step - 1) + ["fail"] + ["skip"] * (7 - step)
    expect(page.locator("#steps > li").nth(step - 1)).to_contain_text("✗")


def test_cosignatures_by_other_keys_are_ignored(site: Site, demo: Demo) -> None:
    """C2SP signed-note: a verifier ignores signature lines by keys it was not given (here a witness's)."""
    witness = "— witness.example/w1 " + base64.b64encode(bytes(4 + 72)).decode() + "\n"
    page = site.open("/verify")
    page.get_by_label("Receipt", exact=True).fill(_receipt(demo, 1) + witness)
    page.get_by_role("button", name="Verify", exact=True).click()
    _verdict(page, "verified")
    expect(page.locator("#steps > li").nth(SIGNATURE - 1)).to_contain_text("1 other signature line (witnesses)")


def test_a_wrong_verifier_key_is_refused(site: Site, demo: Demo) -> None:
    page = site.open(f"/verify?entry={demo.retirement}")
    _verdict(page, "verified")
    vkey = page.get_by_label("The log's verifier key")
    good = vkey.input_value()
    name, key_id, material = good.split("+", 2)
    vkey.fill(f"{name}+{key_id[:-1]}{'0' if key_id[-1] != '0' else '1'}+{material}")
    page.get_by_role("button", name="Verify", exact=True).click()
    assert "Not verified: step 2" in _verdict(page, "failed")
    vkey.fill(f"{name}-elsewhere+{key_id}+{material}")
    page.get_by_role("button", name="Verify", exact=True).click()
    assert "does not match its key" in _verdict(page, "failed")


def test_every_single_changed_character_is_refused(site: Site, demo: Demo) -> None:
    """The verifier itself, run in the page on every one-character change of a receipt: none verifies."""
    page = site.open("/verify")
    accepted = page.evaluate(
        """async ([receipt, vkey]) => {
            const { verifyReceipt } = await import("/static/verify.js");
            const accepted = [];
            for (let at = 0; at < receipt.length; at++) {
                const other = receipt[at] === "A" ? "B" : "A";
                const changed = receipt.slice(0, at) + other + receipt.slice(at + 1);
                const result = await verifyReceipt(changed, vkey, () => {});
                if (result.ok) accepted.push(at);
            }
            const good = await verifyReceipt(receipt, vkey, () => {});
            return { accepted, good: good.ok };
        }""",
        [_receipt(demo, demo.retirement), page.get_by_label("The log's verifier key").input_value()],
    )
    assert accepted == {"accepted": [], "good": True}
