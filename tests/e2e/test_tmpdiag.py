import pytest
from tests.e2e.conftest import ADMIN, login, check_a11y

pytestmark = pytest.mark.e2e

def test_shots(page, demo):
    login(page, ADMIN)
    page.goto("/c/saint-aubin/")
    page.locator("summary").click()
    page.screenshot(path="/tmp/parvis-switcher.png")
    page.goto("/c/saint-aubin/lignes-editoriales/1/modifier/")
    page.get_by_label("Publications par semaine :").fill("500")
    page.get_by_role("button", name="Enregistrer").click()
    page.locator(".errorlist").first.wait_for()
    page.screenshot(path="/tmp/parvis-error.png", full_page=True)
    print(page.locator("form.stacked").inner_html()[:3000])
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/c/saint-aubin/membres/")
    page.locator("summary").click()
    page.screenshot(path="/tmp/parvis-mobile.png", full_page=True)
    check_a11y(page)
