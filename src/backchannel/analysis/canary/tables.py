"""The English variation tables: pairs of forms that say the same thing.

Every pair was chosen so that either form can stand wherever the other stands in
diplomatic and military prose without changing what is said; each is checked by
``tests/analysis/test_canary_tables.py``.  A pair whose one direction is unsafe is
one-way (``ONE_WAY``): only the first form is ever replaced.  Left out on purpose:
pairs whose choice carries meaning (shall/will, must/should, a/the), spellings that
are also other words (practice/practise, licence/license, program/programme,
analyses), anything involving digits (numbers, times, coordinates and dates stay
exactly as written), and any pair whose forms would need a different article.
"""

from __future__ import annotations

# British -ise / American -ize verbs, with the forms each takes.  A stem is listed
# only where every form below is an English word in both spellings.
_ISE_VERBS = (
    "organ", "recogn", "author", "emphas", "priorit", "final", "minim", "maxim",
    "real", "util", "summar", "character", "normal", "stabil", "mobil", "demobil",
    "militar", "demilitar", "apolog", "critic", "special", "categor", "central",
    "decentral", "formal", "legitim", "modern", "neutral", "optim", "harmon",
    "synchron", "standard", "jeopard", "scrutin", "capital", "visual", "reorgan",
    "mechan", "immobil", "sanit",
)  # fmt: skip
_ISE_FORMS = ("ise", "ises", "ised", "ising")
_ISATION_NOUNS = (
    "organ", "author", "real", "stabil", "normal", "demilitar", "mobil", "demobil",
    "modern", "util", "militar", "categor", "character", "neutral", "special",
    "central", "decentral", "formal", "legitim", "optim", "harmon", "synchron",
    "standard", "final", "minim", "visual", "priorit",
)  # fmt: skip


def _ise_pairs() -> list[tuple[str, str]]:
    pairs = [
        (f"{stem}{form}", f"{stem}{form.replace('is', 'iz', 1)}")
        for stem in _ISE_VERBS
        for form in _ISE_FORMS
    ]
    for stem in _ISATION_NOUNS:
        pairs += [(f"{stem}isation", f"{stem}ization"), (f"{stem}isations", f"{stem}izations")]
    return pairs


SPELLING: tuple[tuple[str, str], ...] = (
    *_ise_pairs(),
    ("analyse", "analyze"), ("analysed", "analyzed"), ("analysing", "analyzing"),
    ("paralyse", "paralyze"), ("paralysed", "paralyzed"),
    ("defence", "defense"), ("defences", "defenses"), ("offence", "offense"),
    ("offences", "offenses"), ("pretence", "pretense"),
    ("centre", "center"), ("centres", "centers"), ("centred", "centered"),
    ("kilometre", "kilometer"),
    ("kilometres", "kilometers"), ("theatre", "theater"), ("theatres", "theaters"),
    ("calibre", "caliber"), ("fibre", "fiber"), ("litre", "liter"), ("litres", "liters"),
    ("honour", "honor"), ("honours", "honors"), ("honoured", "honored"),
    ("honouring", "honoring"), ("favour", "favor"), ("favours", "favors"),
    ("favoured", "favored"), ("favourable", "favorable"), ("unfavourable", "unfavorable"),
    ("labour", "labor"), ("neighbour", "neighbor"), ("neighbours", "neighbors"),
    ("neighbouring", "neighboring"), ("behaviour", "behavior"), ("behaviours", "behaviors"),
    ("endeavour", "endeavor"), ("endeavours", "endeavors"), ("endeavoured", "endeavored"),
    ("harbour", "harbor"), ("harbours", "harbors"), ("rumour", "rumor"), ("rumours", "rumors"),
    ("vigour", "vigor"), ("colour", "color"), ("colours", "colors"), ("armour", "armor"),
    ("armoured", "armored"), ("rigour", "rigor"), ("valour", "valor"),
    ("travelled", "traveled"), ("travelling", "traveling"), ("cancelled", "canceled"),
    ("cancelling", "canceling"), ("labelled", "labeled"), ("labelling", "labeling"),
    ("modelling", "modeling"), ("signalled", "signaled"), ("signalling", "signaling"),
    ("levelled", "leveled"), ("totalled", "totaled"), ("fuelled", "fueled"),
    ("fuelling", "fueling"), ("channelled", "channeled"),
    ("fulfil", "fulfill"), ("fulfils", "fulfills"), ("fulfilment", "fulfillment"),
    ("enrolment", "enrollment"), ("instalment", "installment"),
    ("judgement", "judgment"), ("judgements", "judgments"),
    ("acknowledgement", "acknowledgment"), ("acknowledgements", "acknowledgments"),
    ("catalogue", "catalog"), ("dialogue", "dialog"), ("grey", "gray"),
    ("manoeuvre", "maneuver"), ("manoeuvres", "maneuvers"), ("manoeuvring", "maneuvering"),
    ("sceptical", "skeptical"), ("aeroplane", "airplane"),
    ("aeroplanes", "airplanes"), ("jewellery", "jewelry"), ("plough", "plow"),
)  # fmt: skip

HYPHENATION: tuple[tuple[str, str], ...] = (
    ("co-operation", "cooperation"), ("co-operate", "cooperate"),
    ("co-operative", "cooperative"), ("co-ordinate", "coordinate"),
    ("co-ordinated", "coordinated"), ("co-ordinating", "coordinating"),
    ("co-ordination", "coordination"), ("co-ordinator", "coordinator"),
    ("cease-fire", "ceasefire"), ("e-mail", "email"), ("e-mails", "emails"),
    ("re-establish", "reestablish"), ("re-established", "reestablished"),
    ("re-examine", "reexamine"), ("re-open", "reopen"), ("re-opened", "reopened"),
    ("re-deployment", "redeployment"), ("pre-condition", "precondition"),
    ("pre-conditions", "preconditions"), ("peace-keeping", "peacekeeping"),
    ("peace-keepers", "peacekeepers"), ("de-escalation", "deescalation"),
    ("de-escalate", "deescalate"), ("de-confliction", "deconfliction"),
    ("counter-proposal", "counterproposal"), ("counter-proposals", "counterproposals"),
    ("stand-by", "standby"), ("check-point", "checkpoint"), ("check-points", "checkpoints"),
    ("build-up", "buildup"), ("long-standing", "longstanding"), ("non-aggression", "nonaggression"),
    ("time-frame", "timeframe"), ("above-mentioned", "abovementioned"), ("co-chair", "cochair"),
    ("under way", "underway"), ("hand-over", "handover"), ("cut-off", "cutoff"),
    ("set-up", "setup"), ("pull-back", "pullback"), ("back-up", "backup"), ("roll-out", "rollout"),
    ("air-strike", "airstrike"), ("air-strikes", "airstrikes"), ("over-flight", "overflight"),
    ("over-flights", "overflights"), ("stand-off", "standoff"), ("fire-fight", "firefight"),
    ("de-mining", "demining"), ("mine-clearance", "mine clearance"), ("fly-past", "flypast"),
    ("life-saving", "lifesaving"), ("round-the-clock", "round the clock"),
    ("long-term", "long term"), ("short-term", "short term"), ("large-scale", "large scale"),
    ("full-scale", "full scale"), ("cross-border", "cross border"), ("high-level", "high level"),
    ("long-range", "long range"), ("short-range", "short range"), ("day-to-day", "day to day"),
    ("face-to-face", "face to face"), ("fact-finding", "fact finding"),
    ("confidence-building", "confidence building"), ("decision-making", "decision making"),
)  # fmt: skip

# Phrases and words.  Each pair holds in every context the first form appears in.
PHRASES: tuple[tuple[str, str], ...] = (
    ("in order to", "so as to"), ("with regard to", "with respect to"),
    ("prior to", "before"), ("in the event that", "if"),
    ("in relation to", "regarding"), ("at the present time", "at present"),
    ("due to the fact that", "because"), ("in spite of", "despite"), ("as regards", "regarding"),
    ("subsequent to", "after"), ("in the course of", "during"),
    ("with a view to", "with the aim of"),
    ("in the near future", "soon"), ("until such time as", "until"), ("in advance of", "ahead of"),
    ("along with", "together with"), ("in the vicinity of", "near"),
    ("as soon as possible", "at the earliest opportunity"), ("on a daily basis", "daily"),
    ("is able to", "can"), ("are able to", "can"), ("is unable to", "cannot"),
    ("are unable to", "cannot"), ("in addition to", "besides"),
    ("agreed upon", "agreed on"), ("based upon", "based on"), ("upon receipt", "on receipt"),
    ("upon arrival", "on arrival"), ("upon request", "on request"), ("depends upon", "depends on"),
    ("relies upon", "relies on"), ("amongst", "among"), ("among", "amongst"),
    ("towards", "toward"), ("toward", "towards"), ("afterwards", "afterward"),
    ("afterward", "afterwards"), ("onwards", "onward"), ("whilst", "while"),
    ("amidst", "amid"), ("amid", "amidst"), ("learnt", "learned"), ("per cent", "percent"),
    ("percent", "per cent"), ("approximately", "roughly"), ("numerous", "many"),
    ("commence", "begin"), ("commences", "begins"), ("commencing", "beginning"),
    ("all of the", "all the"), ("both of the", "both the"),
    ("the aforementioned", "the above-mentioned"), ("in respect of", "concerning"),
    ("at all times", "always"), ("metre", "meter"), ("metres", "meters"),
    ("should be grateful", "would be grateful"), ("would be grateful", "should be grateful"),
    ("conducted", "carried out"), ("conducting", "carrying out"), ("wishes to", "would like to"),
    ("intends to", "plans to"), ("intend to", "plan to"),
    ("each day", "every day"), ("every day", "each day"), ("on board", "aboard"),
    ("aboard", "on board"), ("subsequently", "later"),
    ("initially", "at first"), ("primarily", "mainly"), ("mainly", "primarily"),
    ("although", "though"), ("because of", "owing to"),
    ("regarding", "concerning"), ("during", "in the course of"), ("terminate", "end"),
    ("terminated", "ended"), ("an entire", "a whole"), ("entire", "whole"),
    ("an additional", "a further"), ("additional", "further"),
    ("acknowledge receipt of", "confirm receipt of"),
    ("confirm receipt of", "acknowledge receipt of"),
    ("acknowledges receipt of", "confirms receipt of"),
    ("confirms receipt of", "acknowledges receipt of"), ("as a matter of urgency", "urgently"),
    ("tonnes", "metric tons"), ("currently", "at present"),
)  # fmt: skip

# Sentence openers, matched only at the start of a sentence, with their comma.
OPENERS: tuple[tuple[str, str], ...] = (
    ("Furthermore,", "Moreover,"), ("Moreover,", "Furthermore,"),
    ("In addition,", "Additionally,"), ("Additionally,", "In addition,"),
    ("Firstly,", "First,"), ("First,", "Firstly,"), ("Secondly,", "Second,"),
    ("Second,", "Secondly,"), ("Thirdly,", "Third,"), ("Third,", "Thirdly,"),
    ("Finally,", "Lastly,"), ("Lastly,", "Finally,"), ("For example,", "For instance,"),
    ("For instance,", "For example,"), ("Nevertheless,", "Nonetheless,"),
    ("Nonetheless,", "Nevertheless,"), ("At present,", "Currently,"), ("Currently,", "At present,"),
    ("Consequently,", "As a result,"), ("As a result,", "Consequently,"),
    ("To this end,", "For this purpose,"),
    ("In the meantime,", "Meanwhile,"), ("Meanwhile,", "In the meantime,"),
    ("Accordingly,", "Consequently,"), ("Regrettably,", "Unfortunately,"),
    ("Unfortunately,", "Regrettably,"), ("Likewise,", "Similarly,"), ("Similarly,", "Likewise,"),
    ("In this regard,", "In this respect,"), ("In this respect,", "In this regard,"),
)  # fmt: skip

# Forms that are written as titles before names; the name itself is never touched.
TITLES: tuple[tuple[str, str], ...] = (
    ("Mr", "Mr."),
    ("Mr.", "Mr"),
    ("Mrs", "Mrs."),
    ("Mrs.", "Mrs"),
    ("Ms", "Ms."),
    ("Ms.", "Ms"),
    ("Dr", "Dr."),
    ("Dr.", "Dr"),
    ("Lieutenant Colonel", "Lt Col"),
    ("Lt Col", "Lieutenant Colonel"),
    ("Colonel", "Col."),
    ("Col.", "Colonel"),
    ("Brigadier", "Brig."),
    ("Brig.", "Brigadier"),
    ("Lieutenant", "Lt"),
    ("Lt", "Lieutenant"),
    ("Sergeant", "Sgt"),
    ("Sgt", "Sergeant"),
)

# Units written after a number, in words or abbreviated (the number is not touched).
UNITS: tuple[tuple[str, str], ...] = (
    ("km", "kilometres"),
    ("kg", "kilograms"),
    ("ft", "feet"),
)

# Bounds before a figure ("less than 10 km"): matched only before a number.
BOUNDS: tuple[tuple[str, str], ...] = (
    ("less than", "under"),
    ("more than", "over"),
    ("at least", "not less than"),
)

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
# Small counts, in words and in figures ("four trucks", "4 trucks"): the value stays.
NUMBERS = (
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
)  # fmt: skip
# A count after one of these is a label ("clause 4", "Phase 2"), never varied.
LABELS = frozenset(
    [
        "clause",
        "clauses",
        "article",
        "articles",
        "paragraph",
        "paragraphs",
        "para",
        "point",
        "item",
        "items",
        "annex",
        "section",
        "sections",
        "phase",
        "stage",
        "line",
        "route",
        "serial",
        "no",
        "number",
        "option",
        "checkpoint",
        "sector",
        "zone",
        "level",
        "grid",
        "page",
        "version",
        "table",
        "figure",
        "chapter",
        "step",
        "round",
        "day",
        "week",
        "track",
        "lane",
        "gate",
        "team",
        "unit",
        "company",
        "battalion",
        "brigade",
        "platoon",
        "squad",
        "group",
        "channel",
        "frequency",
        "runway",
        "pier",
        "berth",
        "hangar",
        "block",
        "building",
        "room",
        "floor",
        "kilometre",
        "mile",
        "box",
        "hill",
        "post",
        "camp",
        "site",
        "area",
        "of",
    ]
)
# Abbreviated units a count may stand before ("4 km"): a count is not varied there.
UNIT_WORDS = frozenset(
    (
        "km",
        "m",
        "nm",
        "ft",
        "kg",
        "mm",
        "cm",
        "hrs",
        "hr",
        "h",
        "min",
        "sec",
        "kts",
        "kt",
        "mph",
        "t",
    )
)

# Pairs whose second form may not be replaced by the first everywhere: kept one-way.
ONE_WAY = frozenset(PHRASES) | frozenset(OPENERS) | frozenset(TITLES)
SYMMETRIC = (*SPELLING, *HYPHENATION)
