"""What the sandbox's simulated citizens say. Written for Parvis: invented residents of
an invented town, in the voice French town halls read every day under their posts.

Each line is (category, text). ``{lieu}`` is replaced by a place of the town. The
categories are the sandbox's own; the inbox's triage must work them out by itself.
"""

from __future__ import annotations

PLACES = [
    "la piscine municipale",
    "la médiathèque",
    "le parc des Tilleuls",
    "la rue de la République",
    "l'école Jules-Ferry",
    "le marché couvert",
    "la place de la Mairie",
    "le gymnase Coubertin",
    "le pont de la Loue",
    "la déchetterie",
]

CITIZENS = [
    ("marie.lefort", "Marie Lefort"),
    ("jb_durand", "Jean-Baptiste Durand"),
    ("nadia.b", "Nadia Benkirane"),
    ("papy_gerard", "Gérard Moulin"),
    ("sophie_aubinoise", "Sophie Carré"),
    ("thomas.v", "Thomas Vasseur"),
    ("camille_r", "Camille Roche"),
    ("yasmine.k", "Yasmine Kaci"),
    ("lucas_velo", "Lucas Perrin"),
    ("odile.m", "Odile Marchand"),
    ("karim.s", "Karim Saïdi"),
    ("ines_d", "Inès Dumont"),
    ("bricomax_promo", "BricoMax Promo"),
    ("crypto_gains_24", "Gains Rapides"),
]

SPAMMERS = {"bricomax_promo", "crypto_gains_24"}

CORPUS: list[tuple[str, str]] = [
    # questions
    ("question", "Bonjour, {lieu} rouvre quand exactement ? Merci d'avance"),
    ("question", "Est-ce que {lieu} est ouvert le dimanche matin ?"),
    ("question", "Il faut s'inscrire à l'avance ou on peut venir directement ?"),
    ("question", "C'est gratuit pour les enfants de moins de 12 ans ?"),
    ("question", "Quels sont les horaires pendant les vacances scolaires ?"),
    ("question", "Y a-t-il un parking à proximité de {lieu} ?"),
    ("question", "Où peut-on retirer le formulaire ? En mairie ou en ligne ?"),
    ("question", "Les travaux de {lieu} se terminent quand ?"),
    ("question", "Bonjour, est-ce accessible aux personnes en fauteuil roulant ?"),
    ("question", "On peut payer par carte sur place ?"),
    ("question", "La collecte des encombrants passe quel jour dans notre quartier ?"),
    ("question", "Comment on fait pour inscrire mon fils à la cantine en cours d'année ?"),
    # complaints and reports
    (
        "reclamation",
        "Ça fait trois semaines que l'éclairage est en panne près de {lieu}, personne ne bouge.",
    ),
    ("reclamation", "Encore un nid-de-poule énorme devant {lieu}, j'ai failli tomber à vélo."),
    ("reclamation", "Les poubelles n'ont pas été ramassées depuis lundi rue des Acacias."),
    (
        "reclamation",
        "Le bruit du chantier commence à 6h30, c'est insupportable pour les riverains.",
    ),
    ("reclamation", "Des dépôts sauvages s'accumulent derrière {lieu}, c'est honteux."),
    (
        "reclamation",
        "Le bus de 7h42 ne passe plus depuis la rentrée, mes enfants arrivent en retard.",
    ),
    ("reclamation", "Les toilettes publiques de {lieu} sont fermées depuis un mois."),
    ("reclamation", "Il n'y a toujours pas de passage piéton devant {lieu}, c'est dangereux."),
    # thanks and positive
    ("positif", "Merci pour cette belle initiative, on a passé un super moment en famille !"),
    ("positif", "Bravo aux équipes, {lieu} est magnifique depuis la rénovation 👏"),
    ("positif", "Super nouvelle, on attendait ça depuis longtemps."),
    ("positif", "Merci aux agents qui ont dégagé la route si vite ce matin."),
    ("positif", "Très bonne idée, j'espère que ça sera reconduit l'an prochain !"),
    ("positif", "Service impeccable à l'accueil de la mairie, merci beaucoup."),
    ("positif", "Quel plaisir de voir {lieu} aussi animé 😊"),
    # negative (not insulting)
    (
        "negatif",
        "Encore de l'argent dépensé pour rien alors que les routes sont dans un état lamentable.",
    ),
    ("negatif", "Franchement déçu, c'était mieux organisé l'an dernier."),
    ("negatif", "On nous annonce toujours des choses qui n'arrivent jamais."),
    ("negatif", "Communication très tardive, on l'apprend la veille pour le lendemain."),
    ("negatif", "Dommage que rien ne soit prévu pour les ados dans cette commune."),
    # insults and harassment
    ("insulte", "Bande d'incapables, vous vous foutez de nous."),
    ("insulte", "Le maire est un guignol, démission !"),
    ("insulte", "Vous êtes vraiment des nuls à la mairie, rien ne marche."),
    ("insulte", "Ferme-la avec ta propagande, espèce d'abruti."),
    # spam and scams
    ("spam", "🔥 Gagnez 500 € par jour depuis chez vous, cliquez ici : bit.ly/gains-rapides 🔥"),
    ("spam", "Promo exceptionnelle sur les abris de jardin, -70 % seulement aujourd'hui !"),
    ("spam", "Vous avez gagné un iPhone ! Envoyez vos coordonnées bancaires en message privé."),
    ("spam", "Investissez dans le Bitcoin avec notre expert, résultats garantis."),
    # off-topic
    ("hors_sujet", "Quelqu'un a perdu un chat roux vers la gare ?"),
    ("hors_sujet", "Vends poussette en très bon état, me contacter en privé."),
    ("hors_sujet", "Qui regarde le match ce soir ?"),
    ("hors_sujet", "Je cherche un plombier sérieux dans le coin, des recommandations ?"),
    # urgent
    ("urgent", "Attention un arbre est tombé sur la route près de {lieu}, la voie est bloquée !"),
    (
        "urgent",
        "Il y a de la fumée qui sort d'un bâtiment près de {lieu}, les pompiers sont prévenus ?",
    ),
    ("urgent", "La rue est complètement inondée devant {lieu}, les voitures ne passent plus."),
    ("urgent", "Fuite de gaz, ça sent très fort devant {lieu}, il faut intervenir vite."),
]

# Things said about the town elsewhere (mentions), not under our posts.
MENTIONS: list[tuple[str, str]] = [
    ("question", "@{handle} pouvez-vous confirmer la date du prochain conseil municipal ?"),
    (
        "reclamation",
        "@{handle} le feu tricolore près de {lieu} est bloqué au rouge depuis ce matin.",
    ),
    ("positif", "Belle journée à la fête du village, merci @{handle} pour l'organisation !"),
    ("negatif", "@{handle} toujours aucune réponse à mon courrier de septembre…"),
    ("urgent", "@{handle} une canalisation a cédé près de {lieu}, l'eau coule partout !"),
    ("hors_sujet", "Quelqu'un sait si @{handle} recrute des saisonniers cet été ?"),
]

# Direct messages.
MESSAGES: list[tuple[str, str]] = [
    ("question", "Bonjour, je voudrais savoir comment obtenir une place en crèche pour septembre."),
    (
        "reclamation",
        "Bonjour, ma rue n'est plus déneigée depuis deux jours, pouvez-vous transmettre ?",
    ),
    ("positif", "Je voulais simplement remercier le service des sports pour son accueil."),
]
