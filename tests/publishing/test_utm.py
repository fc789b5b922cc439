"""UTM parameters on links to the collectivité's own site (publishing/utm.py)."""

from __future__ import annotations

import pytest

from publishing.utm import add_utm, apply_utm_to_text, find_urls, host_of, is_own_site

SITE = "https://www.saint-aubin.fr"
TAGS = "utm_source=facebook&utm_medium=social&utm_campaign=fete-de-la-musique-2025"


def tag(url: str, campaign: str = "Fête de la musique 2025", network: str = "facebook") -> str:
    return add_utm(url, site_url=SITE, network=network, campaign=campaign)


def test_own_site_link_gets_source_medium_and_slugged_campaign() -> None:
    assert tag("https://www.saint-aubin.fr/agenda") == f"https://www.saint-aubin.fr/agenda?{TAGS}"


@pytest.mark.parametrize(
    "url",
    [
        "https://saint-aubin.fr/agenda",  # the site without www.
        "https://agenda.saint-aubin.fr/evenement/42",  # a subdomain
        "http://WWW.Saint-Aubin.FR/agenda",  # case, plain http
        "https://saint-aubin.fr:8443/agenda",  # a port
    ],
)
def test_subdomains_and_variants_of_the_site_are_own(url: str) -> None:
    assert is_own_site(url, SITE)
    assert tag(url).endswith(f"?{TAGS}")


@pytest.mark.parametrize(
    "url",
    [
        "https://www.ouest-france.fr/pays-de-la-loire/saint-aubin",
        "https://saint-aubin.fr.example.com/agenda",  # lookalike
        "https://notsaint-aubin.fr/agenda",  # suffix without a dot
        "https://www.helloasso.com/associations/comite-des-fetes",
        "mailto:mairie@saint-aubin.fr",
        "https://[::1",  # invalid
    ],
)
def test_other_sites_are_left_untouched(url: str) -> None:
    assert not is_own_site(url, SITE)
    assert tag(url) == url


def test_existing_query_is_kept_byte_for_byte() -> None:
    url = "https://www.saint-aubin.fr/recherche?q=caf%C3%A9+concert&page=2"
    assert tag(url) == f"{url}&{TAGS}"
    assert tag("https://www.saint-aubin.fr/agenda?") == f"https://www.saint-aubin.fr/agenda?{TAGS}"


def test_existing_utm_parameters_are_never_overwritten() -> None:
    url = "https://www.saint-aubin.fr/agenda?utm_source=newsletter&id=4"
    assert tag(url) == (f"{url}&utm_medium=social&utm_campaign=fete-de-la-musique-2025")
    full = "https://www.saint-aubin.fr/a?UTM_Source=x&utm_medium=print&utm_campaign=affiches"
    assert tag(full) == full


def test_fragment_stays_last() -> None:
    assert tag("https://www.saint-aubin.fr/agenda#juin") == (
        f"https://www.saint-aubin.fr/agenda?{TAGS}#juin"
    )
    assert tag("https://www.saint-aubin.fr/agenda?mois=6#samedi") == (
        f"https://www.saint-aubin.fr/agenda?mois=6&{TAGS}#samedi"
    )


def test_campaign_with_accents_apostrophes_and_nothing() -> None:
    assert tag("https://saint-aubin.fr/", campaign="Journées du patrimoine : l’Été 2025").endswith(
        "utm_campaign=journees-du-patrimoine-lete-2025"
    )
    bare = tag("https://saint-aubin.fr/", campaign="")
    assert bare == "https://saint-aubin.fr/?utm_source=facebook&utm_medium=social"
    assert "utm_campaign" not in tag("https://saint-aubin.fr/", campaign=" !? ")


def test_network_is_the_source() -> None:
    assert "utm_source=mastodon&" in tag("https://saint-aubin.fr/", network="mastodon")


def test_no_site_no_change() -> None:
    url = "https://www.saint-aubin.fr/agenda"
    assert add_utm(url, site_url="", network="x", campaign="Été") == url
    assert apply_utm_to_text(f"Voir {url}", site_url="", network="x") == f"Voir {url}"


def test_site_given_without_scheme_or_with_international_name() -> None:
    assert is_own_site("https://saint-aubin.fr/x", "saint-aubin.fr")
    assert is_own_site("https://mairie-évry.fr/agenda", "https://www.mairie-évry.fr/")
    assert is_own_site("https://xn--mairie-vry-h7a.fr/agenda", "https://mairie-évry.fr")
    assert host_of("https://Mairie-Évry.FR./x") == "xn--mairie-vry-h7a.fr"


def test_links_inside_a_text() -> None:
    text = (
        "Programme complet : https://www.saint-aubin.fr/fete. Billets (https://saint-aubin.fr/"
        "billets) ou sur https://www.helloasso.com/fete !\n« https://agenda.saint-aubin.fr/j »"
    )
    tagged = apply_utm_to_text(text, site_url=SITE, network="facebook", campaign="Fête")
    tags = "utm_source=facebook&utm_medium=social&utm_campaign=fete"
    assert tagged == (
        f"Programme complet : https://www.saint-aubin.fr/fete?{tags}. Billets "
        f"(https://saint-aubin.fr/billets?{tags}) ou sur https://www.helloasso.com/fete !\n"
        f"« https://agenda.saint-aubin.fr/j?{tags} »"
    )
    # Applying twice changes nothing more.
    assert apply_utm_to_text(tagged, site_url=SITE, network="facebook", campaign="Fête") == tagged
    assert apply_utm_to_text("Pas de lien.", site_url=SITE, network="x") == "Pas de lien."


def test_find_urls_leaves_sentence_punctuation_out() -> None:
    text = "Voir https://fr.wikipedia.org/wiki/Parvis_(architecture), puis https://ville.fr/a?b=1!"
    assert [url for _s, _e, url in find_urls(text)] == [
        "https://fr.wikipedia.org/wiki/Parvis_(architecture)",
        "https://ville.fr/a?b=1",
    ]
    assert find_urls("Rien ici, ni http:// seul.") == []
