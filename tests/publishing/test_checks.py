"""The composer's check engine (publishing/checks.py): every check fails when it should and
stays silent when it should. No database: plain data in, findings out."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest

from networks.base import Limits, Media, MediaKind, PostContent
from networks.registry import get_adapter
from publishing.checks import (
    EditorialRules,
    Finding,
    Level,
    MediaInfo,
    VariantDraft,
    check_address_form,
    check_all_caps,
    check_cadence,
    check_emojis,
    check_fancy_letters,
    check_hashtag_case,
    check_hashtags_used,
    check_limits,
    check_links,
    check_media_accessibility,
    check_signature,
    check_variant,
    check_words_to_avoid,
    count_by_level,
    emoji_spans,
    find_phrases,
    fold,
    has_errors,
    hashtags_in,
    is_fancy,
    outgoing_text,
    run_together,
    text_image_reason,
)
from publishing.election import ElectionContext

SANDBOX = get_adapter("sandbox").limits
# As X counts: URLs weigh 23, CJK and emoji weigh 2.
X = Limits(
    max_chars=280,
    url_length=23,
    weighted=True,
    max_images=4,
    max_videos=1,
    image_formats=("image/jpeg", "image/png", "image/webp", "image/gif"),
    alt_text=True,
    alt_text_max=1000,
)
# As Bluesky counts: graphemes, and 3000 bytes.
BLUESKY = Limits(
    max_chars=300,
    counts_graphemes=True,
    max_bytes=3000,
    max_images=4,
    image_formats=("image/jpeg", "image/png", "image/webp"),
    max_image_bytes=2_000_000,
    alt_text=True,
    alt_text_max=2000,
)
# Like Instagram: no alt text through this API, links not clickable in captions.
NO_ALT = Limits(
    max_chars=2200,
    max_images=10,
    max_videos=1,
    mix_images_and_videos=True,
    alt_text=False,
    links_clickable=False,
)

SITE = "https://www.saint-aubin.fr"
ALT = "Des enfants plantent un chêne dans le parc de la Mairie"


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def image(**kw: object) -> MediaInfo:
    values: dict[str, object] = {
        "kind": MediaKind.IMAGE,
        "mime_type": "image/jpeg",
        "size": 800_000,
        "alt_text": ALT,
        "filename": "plantation-parc.jpg",
    }
    values.update(kw)
    return MediaInfo(**values)  # type: ignore[arg-type]


def video(**kw: object) -> MediaInfo:
    values: dict[str, object] = {
        "kind": MediaKind.VIDEO,
        "mime_type": "video/mp4",
        "size": 20_000_000,
        "filename": "conseil-municipal.mp4",
        "has_subtitles": True,
    }
    values.update(kw)
    return MediaInfo(**values)  # type: ignore[arg-type]


def draft(text: str = "La piscine rouvre lundi.", network: str = "sandbox", **kw: object):
    return VariantDraft(text=text, network=network, **kw)  # type: ignore[arg-type]


# --- helpers -----------------------------------------------------------------------------------


def test_fold_removes_case_accents_and_apostrophe_variants() -> None:
    assert fold("L’Été À Saint-Étienne") == "l'ete a saint-etienne"
    assert fold("Œuvre\u00a0commune") == "oeuvre commune"
    assert fold("𝗚𝗥𝗔𝗧𝗨𝗜𝗧") == "gratuit"


def test_find_phrases_whole_words_only() -> None:
    assert find_phrases("Un ÉVÉNEMENT gratuit", ["évènement"]) == [("évènement", "ÉVÉNEMENT")]
    assert find_phrases("Notre programme événementiel", ["événement"]) == []


# --- 1. network limits --------------------------------------------------------------------------


def test_length_under_and_over_the_limit_as_x_counts() -> None:
    assert check_limits(draft("a" * 280, "x"), X) == []
    findings = check_limits(draft("a" * 281, "x"), X)
    assert codes(findings) == ["limits.too_long"]
    assert findings[0].level == Level.ERROR and findings[0].field == "text"
    assert "281 caractères pour une limite de 280 sur X" in findings[0].message
    assert "retirez-en 1" in findings[0].message


def test_x_counts_every_url_as_23_characters() -> None:
    url = "https://www.saint-aubin.fr/actualites/2025/06/fete-de-la-musique-programme-complet"
    text = "b" * 250 + " " + url  # 250 + 1 + 23 = 274 on X
    assert X.count(text) == 274
    assert check_limits(draft(text, "x"), X) == []
    # A network that counts the URL as it is written refuses the same text.
    assert codes(check_limits(draft(text), Limits(max_chars=280))) == ["limits.too_long"]


def test_x_weighs_emoji_and_cjk_double() -> None:
    assert check_limits(draft("🎉" * 140, "x"), X) == []
    assert codes(check_limits(draft("🎉" * 141, "x"), X)) == ["limits.too_long"]
    assert codes(check_limits(draft("市" * 141, "x"), X)) == ["limits.too_long"]
    # Accented French letters weigh 1.
    assert check_limits(draft("é" * 280, "x"), X) == []


def test_graphemes_and_bytes_as_bluesky_counts() -> None:
    thumbs = "👍🏽" * 300  # 300 graphemes, 2 code points each
    assert BLUESKY.count(thumbs) == 300
    assert "limits.too_long" not in codes(check_limits(draft(thumbs, "bluesky"), BLUESKY))
    family = "👨‍👩‍👧‍👦" * 150  # 150 graphemes, 25 bytes each
    findings = check_limits(draft(family, "bluesky"), BLUESKY)
    assert codes(findings) == ["limits.too_many_bytes"]
    assert "3750 octets pour une limite de 3000" in findings[0].message


def test_separate_link_is_counted_when_the_text_lacks_it() -> None:
    link = "https://www.saint-aubin.fr/agenda"
    text = "c" * 260
    assert outgoing_text(draft(text, "x", link=link)) == f"{text}\n\n{link}"
    assert codes(check_limits(draft(text, "x", link=link), X)) == ["limits.too_long"]
    # Already in the text: counted once.
    inline = "c" * 250 + " " + link
    assert check_limits(draft(inline, "x", link=link), X) == []


def test_empty_post_is_an_error_but_an_image_alone_is_a_post() -> None:
    assert codes(check_limits(draft("   "), SANDBOX)) == ["limits.empty"]
    assert check_limits(draft("", media=[image()]), SANDBOX) == []
    assert check_limits(draft("", link="https://www.saint-aubin.fr/"), SANDBOX) == []


def test_too_many_images() -> None:
    assert check_limits(draft(media=[image()] * 4, network="x"), X) == []
    findings = check_limits(draft(media=[image()] * 5, network="x"), X)
    assert codes(findings) == ["limits.too_many_images"]
    assert findings[0].message == "5 images pour un maximum de 4 sur X."
    assert findings[0].field == "media"


def test_videos_refused_or_too_many() -> None:
    no_video = Limits(max_chars=300, max_images=4, max_videos=0, alt_text=True)
    findings = check_limits(draft(media=[video()], network="bluesky"), no_video)
    assert codes(findings) == ["limits.too_many_videos"]
    assert "vidéo sur Bluesky" in findings[0].message
    assert codes(check_limits(draft(media=[video(), video()]), SANDBOX)) == [
        "limits.too_many_videos"
    ]
    assert check_limits(draft(media=[video()]), SANDBOX) == []


def test_images_and_videos_mixed() -> None:
    assert codes(check_limits(draft(media=[image(), video()], network="x"), X)) == [
        "limits.media_mixed"
    ]
    assert check_limits(draft(media=[image(), video()], network="instagram"), NO_ALT) == []


def test_format_not_accepted_names_the_file_and_the_accepted_formats() -> None:
    heic = image(mime_type="image/heic", filename="IMG_4032.heic")
    findings = check_limits(draft(media=[heic], network="x"), X)
    assert codes(findings) == ["limits.format_not_accepted"]
    assert "HEIC (IMG_4032.heic)" in findings[0].message
    assert "JPEG, PNG, WEBP, GIF" in findings[0].message
    mov = video(mime_type="video/quicktime", filename="clip.mov")
    assert codes(check_limits(draft(media=[mov]), SANDBOX)) == ["limits.format_not_accepted"]
    assert check_limits(draft(media=[image(mime_type="image/png")], network="x"), X) == []


def test_file_too_large_in_megabytes() -> None:
    big = image(size=12_400_000, filename="panorama.jpg")
    findings = check_limits(draft(media=[big]), SANDBOX)
    assert codes(findings) == ["limits.file_too_large"]
    assert "panorama.jpg pèse 12,4 Mo pour un maximum de 8 Mo" in findings[0].message
    assert check_limits(draft(media=[image(size=8_000_000)]), SANDBOX) == []


def test_alt_text_too_long() -> None:
    assert check_limits(draft(media=[image(alt_text="a" * 1000)], network="x"), X) == []
    findings = check_limits(draft(media=[image(alt_text="a" * 1001)], network="x"), X)
    assert codes(findings) == ["limits.alt_too_long"]
    assert "1001 caractères pour un maximum de 1000" in findings[0].message


@dataclasses.dataclass(frozen=True)
class _OneGifLimits(Limits):
    """An adapter's own rule, as X's: an animated GIF goes alone."""

    def problems(self, content: PostContent) -> list[str]:
        issues = super().problems(content)
        if any(m.mime_type == "image/gif" for m in content.media) and len(content.media) > 1:
            issues.append("Sur X, un GIF animé doit être seul dans la publication.")
        return issues


def test_an_adapters_own_rule_comes_through_as_network_rule() -> None:
    limits = _OneGifLimits(**{f.name: getattr(X, f.name) for f in dataclasses.fields(X)})
    gif = image(mime_type="image/gif", filename="anim.gif")
    findings = check_limits(draft(media=[gif, image()], network="x"), limits)
    assert codes(findings) == ["limits.network_rule"]
    assert findings[0].message == "Sur X, un GIF animé doit être seul dans la publication."
    assert check_limits(draft(media=[gif], network="x"), limits) == []


def test_links_not_clickable_warns() -> None:
    findings = check_limits(draft("Infos : https://www.saint-aubin.fr/agenda"), NO_ALT)
    assert codes(findings) == ["limits.link_not_clickable"]
    assert findings[0].level == Level.WARNING
    assert codes(check_limits(draft(link="https://www.saint-aubin.fr/"), NO_ALT)) == [
        "limits.link_not_clickable"
    ]
    assert check_limits(draft("Infos en mairie."), NO_ALT) == []
    assert check_limits(draft("Infos : https://www.saint-aubin.fr/agenda"), SANDBOX) == []


@pytest.mark.parametrize(
    ("text", "media"),
    [
        ("a" * 5001, []),
        ("ok", [image()] * 11),
        ("ok", [video(), video()]),
        ("ok", [image(mime_type="image/bmp")]),
        ("ok", [image(alt_text="a" * 1001)]),
        ("ok", [image()]),
    ],
)
def test_every_problem_limits_finds_is_an_error_here(text: str, media: list[MediaInfo]) -> None:
    """Whatever ``Limits.problems`` refuses, the engine reports as an error."""
    content = PostContent(
        text=text,
        idempotency_key="k",
        media=tuple(
            Media(kind=m.kind, data=b"", mime_type=m.mime_type, alt_text=m.alt_text) for m in media
        ),
    )
    findings = check_limits(draft(text, media=media), SANDBOX)
    assert bool(SANDBOX.problems(content)) == has_errors(findings)


# --- 3a. accessibility of media and links -------------------------------------------------------


def test_alt_missing_is_an_error_where_the_network_takes_alt_text() -> None:
    findings = check_media_accessibility(draft(media=[image(alt_text="  ")]), SANDBOX)
    assert codes(findings) == ["a11y.alt_missing"]
    assert findings[0].level == Level.ERROR
    assert "plantation-parc.jpg" in findings[0].message and "RGAA" in findings[0].message
    assert check_media_accessibility(draft(media=[image()]), SANDBOX) == []


def test_no_alt_text_on_the_network_asks_to_describe_in_the_text() -> None:
    findings = check_media_accessibility(draft(media=[image(alt_text="")]), NO_ALT)
    assert codes(findings) == ["a11y.alt_unsupported"]
    assert findings[0].level == Level.INFO
    assert check_media_accessibility(draft(media=[video()]), NO_ALT) == []


@pytest.mark.parametrize("alt", ["photo", "Image", "IMG_2024", "IMG_2024.jpg", "illustration"])
def test_alt_that_says_nothing(alt: str) -> None:
    media = [image(alt_text=alt, filename="IMG_2024.jpg")]
    assert codes(check_media_accessibility(draft(media=media), SANDBOX)) == ["a11y.alt_meaningless"]


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        (image(filename="affiche-fete-musique.jpg"), "affiche"),
        (image(filename="AfficheConcert.png"), "affiche"),
        (image(filename="IMG_1.jpg", alt_text="Flyer du vide-greniers"), "flyer"),
        (image(filename="programmes_ete.png"), "programmes"),
        (image(filename="infographie-budget.png"), "infographie"),
        (image(filename="scan.jpg", width=1240, height=1754), "format affiche"),
        (image(filename="bandeau.jpg", width=1500, height=500), "format bannière"),
    ],
)
def test_image_that_seems_to_carry_text(media: MediaInfo, reason: str) -> None:
    assert reason in text_image_reason(media)
    findings = check_media_accessibility(draft(media=[media]), SANDBOX)
    assert codes(findings) == ["a11y.image_text"]
    assert findings[0].level == Level.INFO


@pytest.mark.parametrize(
    "media",
    [
        image(filename="parc-des-oiseaux.jpg", width=1600, height=1200),
        image(filename="tracteur-deneigement.jpg"),
        image(filename="programmation.jpg"),
        image(filename="vue.jpg", width=1920, height=1080),
        video(filename="affiche.mp4"),
    ],
)
def test_ordinary_photos_do_not_seem_to_carry_text(media: MediaInfo) -> None:
    assert text_image_reason(media) == ""


def test_video_without_subtitles() -> None:
    findings = check_media_accessibility(draft(media=[video(has_subtitles=False)]), SANDBOX)
    assert codes(findings) == ["a11y.video_no_subtitles"]
    assert findings[0].level == Level.WARNING
    assert check_media_accessibility(draft(media=[video()]), SANDBOX) == []


def test_shortened_links_in_text_and_in_the_link_field() -> None:
    findings = check_links(draft("Inscriptions ici 👉 https://bit.ly/3xYzAbc !"))
    assert codes(findings) == ["a11y.link_shortened"]
    assert "https://bit.ly/3xYzAbc" in findings[0].message and findings[0].field == "text"
    findings = check_links(draft("Le programme.", link="https://www.tinyurl.com/fete2025"))
    assert [(f.code, f.field) for f in findings] == [("a11y.link_shortened", "link")]
    assert check_links(draft("Tout sur https://www.saint-aubin.fr/fete")) == []
    assert check_links(draft("Voir https://bitly-fans.example.org/page")) == []


# --- 2. editorial line --------------------------------------------------------------------------


def test_words_to_avoid_case_and_accent_insensitive_whole_words() -> None:
    avoid = ["gratuit", "Événement", "aujourd'hui", "zone blanche"]
    text = "ÉVENEMENT GRATUIT aujourd’hui, hors zone\u00a0 blanche."
    findings = check_words_to_avoid(text, avoid)
    assert codes(findings) == ["editorial.word_to_avoid"] * 4
    assert findings[0].level == Level.WARNING
    assert "« GRATUIT »" in findings[0].message
    assert check_words_to_avoid("Entrée gratuite, programme événementiel.", avoid) == []
    assert check_words_to_avoid("Rien à éviter ici.", []) == []


@pytest.mark.parametrize(
    "text",
    [
        "Tu viens samedi ?",
        "Inscris-toi avant vendredi.",
        "N’hésite pas : t’inscris en ligne.",
        "Donne ton avis sur le projet de parc.",
        "Ta ville, tes idées !",
        "C'est le tien.",
    ],
)
def test_tutoiement_in_a_vouvoiement_line(text: str) -> None:
    findings = check_address_form(text, "vouvoiement")
    assert codes(findings) == ["editorial.tutoiement"]
    assert "vouvoie" in findings[0].message


@pytest.mark.parametrize(
    "text",
    [
        "Vous êtes invités à la cérémonie.",
        "Le maire donne le ton de la soirée.",
        "Un ton plus haut que l'an dernier.",
        "Y a-t-il encore des places ? Va-t-on à la plage ?",
        "Tutoriel et tonalité : https://www.saint-aubin.fr/tu/ta",
        "Étienne et Antoine ont restauré le toit.",
    ],
)
def test_no_tutoiement_found(text: str) -> None:
    assert check_address_form(text, "vouvoiement") == []


def test_vouvoiement_in_a_tutoiement_line() -> None:
    findings = check_address_form("Donnez votre avis, vos idées comptent !", "tutoiement")
    assert codes(findings) == ["editorial.vouvoiement"]
    assert "« votre », « vos »" in findings[0].message
    assert check_address_form("Rendez-vous samedi au parc, viens !", "tutoiement") == []
    assert check_address_form("Tu viens ?", "tutoiement") == []
    assert check_address_form("Tu viens ? Vous venez ?", "") == []


def test_hashtags_of_the_line_used_or_suggested() -> None:
    line = ["#VivreÀSaintAubin", "SaintAubin"]
    assert check_hashtags_used("Fête ce soir #saintaubin", line) == []
    findings = check_hashtags_used("Fête ce soir https://www.saint-aubin.fr/#SaintAubin", line)
    assert codes(findings) == ["editorial.hashtags_unused"]
    assert findings[0].level == Level.INFO
    assert "#VivreÀSaintAubin, #SaintAubin" in findings[0].message
    assert check_hashtags_used("Sans mot-dièse.", []) == []


def test_hashtags_in_ignores_url_fragments_and_entities() -> None:
    text = "#Fête2025 et &#233; https://ville.fr/#top #JO2024"
    assert hashtags_in(text) == ["Fête2025", "JO2024"]


def test_signature_present_or_missing() -> None:
    signature = "— La Ville de Saint-Aubin"
    assert (
        check_signature("Bel été à toutes et à tous !\n- la ville de Saint-Aubin", signature) == []
    )
    findings = check_signature("Bel été à toutes et à tous !", signature)
    assert codes(findings) == ["editorial.signature_missing"]
    assert "« — La Ville de Saint-Aubin »" in findings[0].message
    assert check_signature("Bel été !", "") == []


def test_cadence_reached_or_not() -> None:
    findings = check_cadence(EditorialRules(cadence_per_week=2, posts_already_this_week=3))
    assert codes(findings) == ["editorial.cadence_exceeded"]
    assert findings[0].field == "schedule"
    assert findings[0].message == (
        "3 publications déjà cette semaine sur ce compte pour un objectif de 2."
    )
    assert codes(check_cadence(EditorialRules(cadence_per_week=2, posts_already_this_week=2)))
    one = check_cadence(EditorialRules(cadence_per_week=1, posts_already_this_week=1))
    assert one[0].message.startswith("1 publication déjà cette semaine")
    assert check_cadence(EditorialRules(cadence_per_week=2, posts_already_this_week=1)) == []
    assert check_cadence(EditorialRules(cadence_per_week=0, posts_already_this_week=5)) == []
    assert check_cadence(EditorialRules(cadence_per_week=None, posts_already_this_week=5)) == []


def test_rules_from_an_editorial_line() -> None:
    line = SimpleNamespace(
        address_form="tutoiement",
        hashtag_list=["SaintAubin"],
        words_to_avoid_list=["cluster"],
        signature="La Ville",
        cadence_per_week=3,
    )
    rules = EditorialRules.from_line(line, posts_already_this_week=4)
    assert rules == EditorialRules(
        address_form="tutoiement",
        hashtags=("SaintAubin",),
        words_to_avoid=("cluster",),
        signature="La Ville",
        cadence_per_week=3,
        posts_already_this_week=4,
    )


def test_media_info_from_an_asset() -> None:
    asset = SimpleNamespace(
        kind="video",
        mime_type="video/mp4",
        size=1_000,
        alt_text="",
        file=SimpleNamespace(name="media/2025/06/voeux.mp4"),
        width=1920,
        height=1080,
        has_subtitles=True,
    )
    info = MediaInfo.from_asset(asset)
    assert info.kind == MediaKind.VIDEO and info.filename == "voeux.mp4" and info.has_subtitles


# --- 3b. accessibility of the text -------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "#vivreensemble",
        "#fetedelamusique",
        "#Fetedelamusique",
        "#conseilmunicipal",
        "#VIVREENSEMBLE",
        "#développementdurable",
        "#marchedenoel",
        "#brocantesolidairedimanche",
        "#videgreniers",
        "#feudartifice",
        "#VivreEnsemble #portesouvertes",
    ],
)
def test_hashtag_of_several_words_without_capitals(tag: str) -> None:
    findings = check_hashtag_case(f"Rendez-vous samedi {tag}")
    assert codes(findings) == ["a11y.hashtag_case"]
    assert findings[0].level == Level.WARNING


@pytest.mark.parametrize(
    "tag",
    [
        "#VivreEnsemble",
        "#FêteDeLaMusique",
        "#VivreÀSaintAubin",
        "#environnement",
        "#intercommunalité",
        "#parcours",
        "#SaintAubin2025",
        "#JO2024",
        "#URGENT",
        "#lyon",
        "#bonjour",
    ],
)
def test_hashtag_readable(tag: str) -> None:
    assert check_hashtag_case(f"Rendez-vous samedi {tag}") == []


def test_run_together_heuristic() -> None:
    assert run_together("vivreensemble")
    assert not run_together("ensemble")
    assert not run_together("parcours")  # "par" + "cours": one content word at most


def test_emoji_spans_count_what_a_reader_sees() -> None:
    text = "👍🏽 👨‍👩‍👧 🇫🇷 1️⃣ ❤️ ©️ é 2 #"
    assert [text[s:e] for s, e in emoji_spans(text)] == ["👍🏽", "👨‍👩‍👧", "🇫🇷", "1️⃣", "❤️", "©️"]


def test_emoji_bullets_at_line_starts() -> None:
    text = "Fête de quartier :\n📅 Samedi 14 juin\n📍 Place de la Mairie"
    findings = check_emojis(text)
    assert codes(findings) == ["a11y.emoji_bullets"]
    assert findings[0].message.startswith("2 lignes commencent par un émoji (📅 📍)")
    keycaps = check_emojis("Étapes :\n1️⃣ Inscription\n2️⃣ Paiement")
    assert codes(keycaps) == ["a11y.emoji_bullets"]
    assert check_emojis("Fête de quartier :\n- samedi 14 juin\n- place de la Mairie") == []


def test_emoji_inside_a_word() -> None:
    assert codes(check_emojis("Bien🎉venue à toutes et à tous")) == ["a11y.emoji_in_word"]
    assert check_emojis("Bienvenue à toutes et à tous 🎉") == []


def test_emoji_in_the_middle_of_a_sentence() -> None:
    findings = check_emojis("Je ❤️ ma ville")
    assert codes(findings) == ["a11y.emoji_mid_sentence"]
    assert "❤️" in findings[0].message
    # At the end of a sentence, before hashtags, or at the end of a paragraph: fine.
    assert check_emojis("Rendez-vous samedi ! 🎉 #FêteDuSport") == []
    assert check_emojis("Bonne nouvelle ! 🎉\nLa piscine rouvre lundi.") == []


def test_too_many_emojis_counts_skin_tones_as_one() -> None:
    assert check_emojis("Bravo aux bénévoles 👏🏽👏🏿👏") == []
    findings = check_emojis("Bravo aux bénévoles 👏🏽👏🏿👏🎉")
    assert codes(findings) == ["a11y.emoji_too_many"]
    assert "4 émojis pour un maximum conseillé de 3" in findings[0].message


def test_no_emoji_no_finding() -> None:
    assert check_emojis("La piscine rouvre lundi à 9 h. Tarifs © 2025 inchangés.") == []


@pytest.mark.parametrize(
    ("text", "sample", "plain"),
    [
        ("𝗕𝗶𝗲𝗻𝘃𝗲𝗻𝘂𝗲 à tous !", "𝗕𝗶𝗲𝗻𝘃𝗲𝗻𝘂𝗲", "Bienvenue"),
        ("Entrée ｇｒａｔｕｉｔｅ", "ｇｒａｔｕｉｔｅ", "gratuite"),
        ("Ⓒⓘⓝⓔⓜⓐ en plein air", "Ⓒⓘⓝⓔⓜⓐ", "Cinema"),
        ("Le ᴘʀᴏɢʀᴀᴍᴍᴇ est là", "ᴘʀᴏɢʀᴀᴍᴍᴇ", "programme"),
        ("Ancien prix : 1̶0̶ euros", "1̶0̶", "10"),
        ("𝒱𝒾𝓋𝓇ℯ ensemble", "𝒱𝒾𝓋𝓇ℯ", "Vivre"),
        ("𝘓𝘦 𝘮𝘢𝘳𝘤𝘩𝘦́ de Noël", "𝘓𝘦 𝘮𝘢𝘳𝘤𝘩𝘦́", "Le marché"),
    ],
)
def test_fancy_letters_are_an_error_with_a_sample(text: str, sample: str, plain: str) -> None:
    findings = check_fancy_letters(text)
    assert codes(findings) == ["a11y.fancy_letters"]
    assert findings[0].level == Level.ERROR
    assert f"« {sample} »" in findings[0].message
    assert f"Écrivez « {plain} »" in findings[0].message


@pytest.mark.parametrize(
    "text",
    [
        "Le 1ᵉʳ mai, 30 m² de potager à l’Œuvre de Saint-Étienne.",
        "Marque™, n° 12, il fait 30 ℃ : restez au frais 🥵",
        "Rendez-vous № 3, 1️⃣ seule inscription",
    ],
)
def test_ordinary_typography_is_not_fancy(text: str) -> None:
    assert check_fancy_letters(text) == []


def test_is_fancy_by_block() -> None:
    assert is_fancy("𝐀") and is_fancy("Ａ") and is_fancy("①") and is_fancy("ℍ")
    assert not is_fancy("A") and not is_fancy("é") and not is_fancy("ᵉ") and not is_fancy("™")


@pytest.mark.parametrize(
    ("text", "sample"),
    [
        ("FÊTE DE LA MUSIQUE samedi au parc", "FÊTE DE LA MUSIQUE"),
        ("Attention : RUE BARRÉE jusqu'à lundi", "RUE BARRÉE"),
        ("ALERTE MÉTÉO : vigilance orange", "ALERTE MÉTÉO"),
        ("VIVE LE SPORT !", "VIVE LE SPORT"),
        ("C'EST L'ÉTÉ À SAINT-AUBIN", "C'EST L'ÉTÉ À SAINT-AUBIN"),
    ],
)
def test_text_in_capitals(text: str, sample: str) -> None:
    findings = check_all_caps(text)
    assert codes(findings) == ["a11y.all_caps"]
    assert f"« {sample} »" in findings[0].message


@pytest.mark.parametrize(
    "text",
    [
        "Le CCAS et la SNCF vous accompagnent.",
        "Permanence SNCF CCAS jeudi.",
        "URGENT : la piscine ferme à 18 h.",
        "Prenez le RER B puis le bus 21.",
        "Tout sur https://www.saint-aubin.fr/AGENDA/ETE/FETE-DE-LA-MUSIQUE",
        "Mots-dièse #JO #PARIS #SPORT",
    ],
)
def test_acronyms_and_lone_words_in_capitals_pass(text: str) -> None:
    assert check_all_caps(text) == []


# --- the entry point ----------------------------------------------------------------------------

GOOD_TEXT = (
    "La piscine Jean-Bouin rouvre lundi 3 juin après six mois de travaux. Horaires et "
    "tarifs : https://www.saint-aubin.fr/piscine 🏊 #SaintAubin\n— La Ville de Saint-Aubin"
)
RULES = EditorialRules(
    address_form="vouvoiement",
    hashtags=("SaintAubin",),
    words_to_avoid=("gratuit",),
    signature="— La Ville de Saint-Aubin",
    cadence_per_week=3,
    posts_already_this_week=1,
)


def test_a_good_post_has_no_finding() -> None:
    good = draft(
        GOOD_TEXT, "x", media=[image()], scheduled_at=dt.datetime(2025, 6, 2, 8, tzinfo=dt.UTC)
    )
    assert (
        check_variant(good, limits=X, rules=RULES, election=ElectionContext(), site_url=SITE) == []
    )


def test_findings_come_errors_first_then_warnings_then_info() -> None:
    text = "Tu viens ? 𝗚𝗥𝗔𝗧𝗨𝗜𝗧 #SaintAubin"
    findings = check_variant(
        draft(text, media=[image(alt_text="", filename="affiche.jpg")]),
        limits=SANDBOX,
        rules=RULES,
    )
    levels = [f.level for f in findings]
    assert levels == sorted(levels, key=["error", "warning", "info"].index)
    assert set(codes(findings)) == {
        "a11y.alt_missing",
        "a11y.fancy_letters",
        "editorial.word_to_avoid",
        "editorial.tutoiement",
        "a11y.image_text",
        "editorial.signature_missing",
    }
    assert has_errors(findings)
    assert count_by_level(findings) == {"error": 2, "warning": 2, "info": 2}
    assert findings[0].as_dict() == {
        "level": "error",
        "code": findings[0].code,
        "message": findings[0].message,
        "field": "media",
    }


def test_without_rules_or_election_no_such_finding() -> None:
    findings = check_variant(draft("Tu viens ? Bilan du mandat."), limits=SANDBOX)
    assert findings == []
    assert not has_errors(findings)


def test_utm_is_applied_before_counting() -> None:
    text = "Le programme : https://www.saint-aubin.fr/ete"  # 45 characters
    limits = Limits(max_chars=60, alt_text=True)
    assert check_variant(draft(text), limits=limits, site_url=SITE) == []
    findings = check_variant(draft(text), limits=limits, site_url=SITE, utm_campaign="Été 2025")
    assert codes(findings) == ["limits.too_long"]
    # X counts the tagged URL as 23 anyway.
    assert check_variant(draft(text, "x"), limits=X, site_url=SITE, utm_campaign="Été") == []


def test_the_election_guard_is_part_of_the_variant_check() -> None:
    context = ElectionContext(
        periods=[("Municipales 2026", dt.date(2025, 9, 1), dt.date(2026, 3, 22))], sponsored=True
    )
    when = dt.datetime(2026, 2, 10, 9, tzinfo=dt.UTC)
    findings = check_variant(
        draft(GOOD_TEXT, scheduled_at=when), limits=SANDBOX, rules=RULES, election=context
    )
    assert codes(findings) == ["election.sponsored", "election.period"]
    # No date: "now" decides.
    findings = check_variant(draft(GOOD_TEXT), limits=SANDBOX, election=context, now=when)
    assert "election.period" in codes(findings)
    later = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
    assert check_variant(draft(GOOD_TEXT), limits=SANDBOX, election=context, now=later) == []
