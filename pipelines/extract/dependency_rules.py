"""Lexicon and word lists of the ``dependency`` extractor (:mod:`.dependency`).

Everything here is general English: verb lemmas mapped onto the controlled relation vocabulary,
and the small closed word classes that decide whether a noun phrase names a concept. No entry
names a discipline or a term of any corpus; the extractor's behaviour per sentence shape lives in
:mod:`.dependency`, the words it reacts to live here, so that tuning the lexicon never touches
the parse walking.
"""

from __future__ import annotations


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


# --------------------------------------------------------------------------------------------
# Verbs: lemma -> relation
# --------------------------------------------------------------------------------------------

# "X <verb> Y" with Y the direct object. Verbs whose subject is as often an agent as a cause
# ("firms produce goods", "the government measures poverty") are left out: they state no
# relation between two concepts.
ACTIVE: dict[str, str] = {
    # not "create", "generate", "produce": their subject is an agent as often as a cause ("the
    # business created 40 jobs")
    # not "influence", "affect", "foster", "improve", "enhance": they state no direction
    # ("choices influence prices", "students can improve their mindset"), or a quality, not an amount
    **dict.fromkeys(("cause", "trigger", "induce"), "causes"),
    **dict.fromkeys(("increase", "raise", "boost", "promote", "stimulate", "strengthen",
                     "amplify", "accelerate", "intensify", "expand", "encourage"), "increases"),
    **dict.fromkeys(("reduce", "lower", "decrease", "diminish", "weaken", "lessen", "shrink", "slow", "cut",
                     "dampen", "depress", "discourage", "limit", "eliminate", "restrict", "curb"), "decreases"),
    **dict.fromkeys(("prevent", "block", "inhibit", "hinder", "impede", "suppress", "deter", "avert"), "prevents"),
    **dict.fromkeys(("require", "need", "necessitate"), "requires"),
    **dict.fromkeys(("enable", "allow", "permit", "facilitate"), "enables"),
    **dict.fromkeys(("include", "contain", "comprise", "encompass", "involve"), "has_part"),
    **dict.fromkeys(("precede",), "precedes"),
}

# Objects after which a verb of ACTIVE means something else: "raise funds / a question / children" collects,
# asks or brings up; "promote a view / a product / an employee" advocates, sells or advances. The verb
# then states no change in an amount.
OTHER_SENSES: dict[str, frozenset[str]] = {
    "raise": _words("fund funds money capital question questions concern concerns issue issues objection "
                    "objections child children family families army armies flag flags hand hands eyebrow eyebrows"),
    "promote": _words("view views perspective perspectives idea ideas product products brand brands candidate "
                      "candidates employee employees agenda agendas policy policies"),
}

# "X <verb> <prep> Y": (lemma, preposition or particle) -> relation.
PHRASAL: dict[tuple[str, str], str] = {
    ("lead", "to"): "causes",
    ("result", "in"): "causes",
    ("give", "rise"): "causes",  # "gives rise to": rise is the direct object, "to" its preposition
    ("contribute", "to"): "causes",
    ("depend", "on"): "requires",
    ("depend", "upon"): "requires",
    ("rely", "on"): "requires",
    ("rely", "upon"): "requires",
    ("protect", "against"): "prevents",
    ("guard", "against"): "prevents",
    ("allow", "for"): "enables",
    ("consist", "of"): "has_part",
    ("refer", "to"): "defined_as",
    ("differ", "from"): "contrasts_with",
    ("belong", "to"): "part_of",
    ("come", "before"): "precedes",
    ("come", "after"): "follows",
}

# "X <verb> <particle> Y" (the object is the direct object): "drives down the price".
PARTICLE: dict[tuple[str, str], str] = {
    ("bring", "about"): "causes",
    ("set", "off"): "causes",
    ("drive", "up"): "increases",
    ("push", "up"): "increases",
    ("speed", "up"): "increases",
    ("build", "up"): "increases",
    ("drive", "down"): "decreases",
    ("push", "down"): "decreases",
    ("bring", "down"): "decreases",
    ("slow", "down"): "decreases",
    ("cut", "down"): "decreases",
    ("rule", "out"): "prevents",
}

# "Y results from X": the grammatical subject is the effect.
PHRASAL_REVERSED: dict[tuple[str, str], str] = {
    ("result", "from"): "causes",
    ("stem", "from"): "causes",
    ("arise", "from"): "causes",
}

# Passives "X is <participle> by Y": relation and whether the agent Y is the relation's subject.
PASSIVE_AGENT: dict[str, tuple[str, bool]] = {
    **dict.fromkeys(("cause", "trigger", "induce", "produce", "generate"), ("causes", True)),
    **dict.fromkeys(("increase", "raise", "boost", "promote", "stimulate",
                     "strengthen", "amplify", "accelerate", "intensify"), ("increases", True)),
    **dict.fromkeys(("reduce", "lower", "decrease", "diminish", "weaken", "lessen", "slow", "dampen",
                     "depress"), ("decreases", True)),
    **dict.fromkeys(("prevent", "block", "inhibit", "hinder", "impede", "suppress", "deter"), ("prevents", True)),
    **dict.fromkeys(("enable", "allow", "permit", "facilitate"), ("enables", True)),
    **dict.fromkeys(("require", "need"), ("requires", True)),
    "measure": ("measured_by", False),
    "quantify": ("measured_by", False),
    "follow": ("precedes", False),  # "X is followed by Y": X precedes Y
    "precede": ("precedes", True),  # "X is preceded by Y": Y precedes X
}

# Passives with a preposition other than "by": (participle lemma, preposition) -> (relation, agent first).
PASSIVE_PREP: dict[tuple[str, str], tuple[str, bool]] = {
    ("make", "of"): ("has_part", False),  # "X is made up of Y" (the particle "up" is checked separately)
    ("compose", "of"): ("has_part", False),
    ("comprise", "of"): ("has_part", False),
    ("define", "as"): ("defined_as", False),
    ("know", "as"): ("defined_as", True),  # "X is known as Y": the term Y is defined as X
    ("refer", "as"): ("defined_as", True),  # "X is referred to as Y"
    ("measure", "in"): ("measured_by", False),
    ("measure", "with"): ("measured_by", False),
    ("measure", "using"): ("measured_by", False),
    ("use", "for"): ("used_for", False),
    ("include", "in"): ("part_of", False),
    ("base", "on"): ("requires", False),  # "X is based on Y": X depends on Y
    ("contain", "in"): ("part_of", False),
}

# "X discourages Y and thus reduces Z": the second effect runs through the first one's object.
MEDIATING_ADVERBS = _words("thus therefore thereby hence consequently")
# "X is useful for Y": a use.
USEFUL_ADJECTIVES = _words("useful helpful")
# "X is a way / tool to do Y": a use, not a class.
INSTRUMENT_HEADS = _words("way tool means method technique instrument mechanism device")

# "X is called Y" (object predicate): the term Y is defined as X.
NAMING_PARTICIPLES = _words("call term name dub label")
# determiners that point back to an earlier sentence ("this pattern is called ...")
DEMONSTRATIVES = _words("this these that those")

# Intransitive verbs whose subject moves up or down ("prices rise", "output falls").
UP_VERBS = _words("increase rise grow climb expand soar jump rebound accelerate")
DOWN_VERBS = _words("decrease fall decline drop shrink contract diminish plunge slump fall slow weaken")

# "X helps (to) reduce Y", "X tends to raise Y": the relation is the infinitive's, the subject X's.
RAISING = _words("help tend serve work act seem appear continue")

# Clause markers under which a clause is no assertion ("If the firm raises prices, ...").
CONDITIONAL_MARKS = _words("if unless whether until once suppose")
# "Unlike X, Y ...", "In contrast to X, Y ...": Y contrasts with X.
CONTRAST_PREPS = _words("unlike")
CONTRAST_NOUNS = _words("contrast opposition")
# Words of a full name that an acronym may skip ("Americans with Disabilities Act (ADA)").
ACRONYM_SKIPS = _words("of and the for with in on to a an")
# Markers of a clause that states the cause of its main clause.
CAUSAL_MARKS = _words("because")
# Markers of a co-variation: "As / When / If X rises, Y falls".
COVARIATION_MARKS = _words("as when whenever if")
# Sentence openers that say the sentence is a consequence of the one before.
CONSEQUENCE_OPENERS = ("as a result", "therefore", "consequently", "as a consequence", "thus", "hence")
# Openers of sentences that state nothing as fact.
HYPOTHETICAL_OPENERS = _words("suppose assume imagine let consider think ask")

# --------------------------------------------------------------------------------------------
# Noun phrases
# --------------------------------------------------------------------------------------------

# Nouns that only measure or classify what their "of" phrase names ("a number of factors",
# "a type of market"): the concept is the noun inside the "of" phrase.
CONTAINER_HEADS = _words(
    "lot lots variety range host array series majority minority set group couple kind kinds type "
    "types sort sorts form forms example examples instance instances part parts piece pieces portion "
    "amount bit one some all most many each none any both several")
# Attribute heads of the copula that name the relation instead of a class.
CLASS_HEADS = _words("type kind sort form category class variety subtype subset")
EXAMPLE_HEADS = _words("example instance illustration case")
# Heads of a subject that name some of a class's members ("another group of Xs are A and B": a plural
# class; "the group of interest" is no class); as an attribute they are collections ("X are a group of ...").
GROUP_HEADS = _words("group family")
PART_HEADS = _words("part component element member piece portion step stage phase ingredient constituent")

# Heads too vague to stand as a concept: general English words that name no term of any field.
GENERIC_HEADS = _words(
    "way ways thing things lot lots bit idea ideas example examples kind kinds type types sort sorts form "
    "forms part parts number numbers case cases fact facts issue issues aspect aspects matter matters time "
    "times point points question questions situation situations reason reasons item items area areas "
    "something anything everything nothing someone anyone everyone people person one ones others other "
    "result results answer answers outcome outcomes effect effects consequence consequences impact impacts "
    "purpose goal aim key problem problems challenge challenges benefit benefits advantage advantages "
    "disadvantage disadvantages difference differences solution solutions option options choice choices "
    "change changes factor factors role roles use uses term terms word words concept concepts topic topics "
    "chapter section figure table page book text list lists step steps stage stages level levels "
    "kind thing stuff place places day days year years week weeks month months hour hours minute minutes "
    "variety range amount amounts lot majority group groups set sets couple rest whole total "
    "approach approaches method methods process processes system systems manner means "
    "information data detail details feature features element elements component components "
    "instance instances illustration addition contrast basis order respect regard terms ability abilities "
    # heads whose meaning is in the complement that follows them ("an attempt to raise wages", "the
    # view that ...", "the potential for claims", "Following is an example"): alone they are fragments
    "attempt attempts effort efforts following view views potential tendency")

# Agents: as the object of "require" / "allow" they are told or let to act ("laws that require a company
# to sell", "the bank will allow the firm"); what is required or enabled is the act, not the agent.
AGENT_HEADS = _words(
    "company companies firm firms business businesses organization organizations student students manager "
    "managers employee employees employer employers people individual individuals person persons we you "
    "author authors reader readers researcher researchers economist economists owner owners customer customers "
    "consumer consumers worker workers team teams leader leaders")

# Predicate heads of a copula that describe the subject loosely instead of defining it ("X is a rough
# indicator of Y", "X is a measure of Y", "X is one way to Y", "X is an approximation").
HEDGED_HEADS = _words(
    "indicator indicators measure measures sign signs proxy gauge reflection approximation estimate estimates "
    "symptom symptoms one way ways attempt attempts example examples source sources "
    # figures of speech: "sleep is the foundation of good health", "trust is the key to teamwork"
    "foundation foundations cornerstone backbone key hallmark")
# Adjectives that say a predicate holds only loosely ("a rough indicator", "a partial measure").
HEDGE_ADJECTIVES = _words("rough approximate partial crude imperfect loose possible potential")

# Quantifiers on a subject that make a copula hold of only some members ("not all X are Y", "few X are
# Y", "many of the X are Y"): no class membership follows.
PARTIAL_QUANTIFIERS = _words("not no few some many several most much part certain")
# Arithmetic words: "X is Y minus Z" states a formula, not a class.
ARITHMETIC_WORDS = _words("minus plus times divided multiplied")
# Modal verbs of possibility: "which could limit growth" states no effect.
WEAK_MODALS = _words("may might could")
# Modals of advice: "firms should cut costs", "each function should include a docstring" recommend, and
# what they recommend is no fact.
ADVICE_MODALS = _words("should ought")

# Words that make a naming hypothetical or past ("would be called", "was once called"): no definition; "may
# be called" gives another name and stays.
FORMER_NAMINGS = _words("would once initially originally formerly previously")
# Markers of a condition whose consequent a copula states ("if the loan is secured, the lender is a
# creditor"): what the consequent classifies holds only under the condition.
CONDITION_MARKS = _words("if unless")

# Generic heads that stay vague under an adjective ("economic factors", "positive effects"), unlike
# "comparative advantage" or "marginal cost".
VAGUE_UNDER_ADJECTIVE = _words(
    "way ways thing things factor factors effect effects aspect aspects issue issues kind kinds type types sort "
    "sorts part parts lot lots number numbers area areas item items point points matter matters idea ideas "
    "reason reasons role roles")

# Words that may open a noun phrase but say nothing about the concept ("many firms", "the same
# good", "an important factor"): trimmed from the front.
LEADING_JUNK = _words(
    "a an the this that these those such its their his her our your my each every any some another many "
    "most all both several few various certain other same own much more less fewer numerous multiple "
    "important major main key significant different similar particular specific overall example sample "
    "huge critical crucial vital essential fundamental powerful popular valuable convenient versatile single "
    "possible good bad great new useful helpful necessary basic common typical following above below "
    "aforementioned entire whole given further additional extra likely true simple "
    "one two three four five six seven eight nine ten first second third last next previous dozen dozens "
    "hundreds thousands")

# Words of LEADING_JUNK that are junk after a determiner ("the whole economy") and part of a name when
# they open the phrase ("whole numbers").
NAME_OPENERS = _words("whole")

# Nouns that introduce a term as a word ("the term X", "the concept X"): not part of the concept.
METALINGUISTIC = _words("term word phrase concept notion label")

# Comparative modifiers that sign a quantity ("higher prices": prices go up).
UP_MODIFIERS = _words("higher more greater larger bigger increased increasing rising growing")
DOWN_MODIFIERS = _words("lower less fewer smaller reduced decreased decreasing falling declining")
# Nouns that sign the quantity of their "in"/"of" phrase ("an increase in demand").
UP_NOUNS = _words("increase rise growth expansion gain boost hike surge")
DOWN_NOUNS = _words("decrease fall decline drop reduction contraction cut loss slowdown")

# Words that pick one item out of a series ("the final step", "one foundation", "another reason").
SERIES_WORDS = _words("one another final last next previous following first second third")
# Words by which a copula's attribute compares instead of classifying ("the only planet", "the same thing").
COMPARISON_WORDS = _words("only same")

# Pronouns that stand for a concept named before and that the extractor resolves.
SINGULAR_ANAPHORS = _words("it this")
PLURAL_ANAPHORS = _words("they these")
# Of those, the ones that stand alone for what the previous clause said rather than for a noun in it
# ("prices were frozen. This causes shortages"): they name no concept.
EVENT_ANAPHORS = _words("this")

# Entity types of anecdotal instances ("firms such as <company>"): never an example of a class.
ANECDOTAL_ENTITIES = _words("PERSON ORG GPE FAC LOC NORP")
# Entity types that are never concepts: people in anecdotes, and quantities.
# Adverbs of a copula that give a share ("X are mostly A and B"): what X are made of, not their kinds.
PORTION_ADVERBS = _words("mostly mainly largely primarily chiefly predominantly partly")

# Entities that give an amount ("a price of $5", "a rate of 3 percent"): a value, not a name.
AMOUNT_ENTITIES = _words("MONEY PERCENT QUANTITY")
SKIP_ENTITIES = _words("PERSON DATE TIME PERCENT MONEY QUANTITY ORDINAL CARDINAL")

# Prepositions whose short phrase is part of a term before a bare noun ("barriers to entry", "demand
# for healthcare", "advances in technology"; "on" was tried: "spending on big-ticket items" is no term).
TERM_PREPS = _words("to for in")
# a noun followed by a direction ("a shift of demand to the left") names something whose effect depends on
# that direction, which its name would drop ("leftward" before the noun stays in the name)
DIRECTION_PREPS = _words("to toward towards")
DIRECTION_WORDS = _words("left right")

MAX_CONCEPT_WORDS = 5
MAX_DEFINITION_WORDS = 8
MAX_EXAMPLES = 2  # example_of items per enumeration (3 measured: same F1 on dev, a larger share of example_of)
MAX_PARTS = 5  # has_part items per enumeration
