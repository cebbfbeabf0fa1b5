"""The built-in tasks: the paper's benchmarks (XNLI, IndicXNLI, Sinhala news, MARC), SIB-200, and
the generation task flores_en (read any FLORES-200 language, write English).

Prompts and label words are METHOD.md's exact strings. Which languages count as low-resource is
a project choice, documented in docs/tasks.md ("Low-resource languages").
"""

from __future__ import annotations

from .base import HubSpec, Task, TextCorpus

NLI_PROMPT = "Premise: {premise} Hypothesis: {hypothesis} Label: "
NLI_LABELS = ["Entailment", "Neutral", "Contradiction"]  # ids 0/1/2 as in facebook/xnli

XNLI_LANGS = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
INDICXNLI_LANGS = ["as", "bn", "gu", "hi", "kn", "ml", "mr", "or", "pa", "ta", "te"]
MARC_LANGS = ["de", "en", "es", "fr", "ja", "zh"]

# SIB-200: the 205 FLORES-200 language varieties of Davlan/sib200 (one hub config each).
SIB200_LANGS = """
ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn als_Latn amh_Ethi apc_Arab
arb_Arab arb_Latn ars_Arab ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn
bak_Cyrl bam_Latn ban_Latn bel_Cyrl bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt bos_Latn
bug_Latn bul_Cyrl cat_Latn ceb_Latn ces_Latn cjk_Latn ckb_Arab crh_Latn cym_Latn dan_Latn deu_Latn
dik_Latn dyu_Latn dzo_Tibt ell_Grek eng_Latn epo_Latn est_Latn eus_Latn ewe_Latn fao_Latn fij_Latn
fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn gaz_Latn gla_Latn gle_Latn glg_Latn grn_Latn guj_Gujr
hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn hun_Latn hye_Armn ibo_Latn ilo_Latn ind_Latn
isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn kac_Latn kam_Latn kan_Knda kas_Arab kas_Deva kat_Geor
kaz_Cyrl kbp_Latn kea_Latn khk_Cyrl khm_Khmr kik_Latn kin_Latn kir_Cyrl kmb_Latn kmr_Latn knc_Arab
knc_Latn kon_Latn kor_Hang lao_Laoo lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn ltg_Latn ltz_Latn
lua_Latn lug_Latn luo_Latn lus_Latn lvs_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Arab min_Latn
mkd_Cyrl mlt_Latn mni_Beng mos_Latn mri_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva nqo_Nkoo
nso_Latn nus_Latn nya_Latn oci_Latn ory_Orya pag_Latn pan_Guru pap_Latn pbt_Arab pes_Arab plt_Latn
pol_Latn por_Latn prs_Arab quy_Latn ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Olck scn_Latn
shn_Mymr sin_Sinh slk_Latn slv_Latn smo_Latn sna_Latn snd_Arab som_Latn sot_Latn spa_Latn srd_Latn
srp_Cyrl ssw_Latn sun_Latn swe_Latn swh_Latn szl_Latn tam_Taml taq_Latn taq_Tfng tat_Cyrl tel_Telu
tgk_Cyrl tgl_Latn tha_Thai tir_Ethi tpi_Latn tsn_Latn tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn
tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab uzn_Latn vec_Latn vie_Latn war_Latn wol_Latn xho_Latn
ydd_Hebr yor_Latn yue_Hant zho_Hans zho_Hant zsm_Latn zul_Latn
""".split()

# High- and mid-resource languages (large web and Wikipedia presence, well covered by
# English-centric LLMs). Every SIB-200 language NOT listed here counts as low-resource.
SIB200_NOT_LOW = set(
    """
arb_Arab bul_Cyrl cat_Latn ces_Latn dan_Latn deu_Latn ell_Grek eng_Latn fin_Latn fra_Latn heb_Hebr
hin_Deva hun_Latn ind_Latn ita_Latn jpn_Jpan kor_Hang nld_Latn nob_Latn pes_Arab pol_Latn por_Latn
ron_Latn rus_Cyrl spa_Latn swe_Latn tha_Thai tur_Latn ukr_Cyrl vie_Latn zho_Hans zho_Hant
""".split()
)

# SIB-200 source categories -> label words: one capitalised word each; "science/technology"
# becomes "Science" (as the Sinhala news task names its tech class).
SIB200_LABEL_MAP = {
    "science/technology": "Science",
    "travel": "Travel",
    "politics": "Politics",
    "sports": "Sports",
    "health": "Health",
    "entertainment": "Entertainment",
    "geography": "Geography",
}


def builtin_tasks() -> dict[str, Task]:
    """The built-in tasks by name, in the order `layerbridge tasks` lists them."""
    tasks = [*paper_tasks(), *flores_tasks()]
    return {t.name: t for t in tasks}


def paper_tasks() -> list[Task]:
    """The paper's classification benchmarks: XNLI, IndicXNLI, Sinhala news, MARC."""
    xnli = Task(
        name="xnli",
        description="Cross-lingual NLI (XNLI), 15 languages, 3 classes; test split",
        languages=list(XNLI_LANGS),
        low_resource=["sw", "ur"],
        label_words=list(NLI_LABELS),
        prompt=NLI_PROMPT,
        train_lang="en",
        train_fallback=["validation"],
        train_source="MNLI (xnli en train)",
        hub=HubSpec(path="facebook/xnli"),
    )
    indicxnli = Task(
        name="indicxnli",
        description="IndicXNLI (machine-translated XNLI), 11 Indic languages; zero-shot from English XNLI",
        languages=list(INDICXNLI_LANGS),
        low_resource=[lang for lang in INDICXNLI_LANGS if lang != "hi"],
        label_words=list(NLI_LABELS),
        prompt=NLI_PROMPT,
        train_lang="en",
        train_from="xnli",
        train_source="xnli's English data",
        hub=HubSpec(path="Divyanshu/indicxnli"),
    )
    sinhala_news = Task(
        name="sinhala_news",
        description="News categories: English BBC news train, Sinhala news test",
        languages=["si"],
        low_resource=["si"],
        label_words=["Business", "Entertainment", "Political", "Sports", "Science"],
        prompt="News Sentence: {text} Category: ",
        train_lang="en",
        train_source="BBC news (en train)",
        hub=HubSpec(
            path="Themira/en_si_news_classification_with_label_name",
            config=None,
            split="{split}_{lang}",  # train_en, test_si, test_en
            columns={"sentence": "text"},
        ),
    )
    marc = Task(
        name="marc",
        description="Multilingual Amazon Reviews (MARC), 1-5 stars as 5 classes",
        languages=list(MARC_LANGS),
        low_resource=[],
        label_words=["Very Negative", "Negative", "Neutral", "Positive", "Very Positive"],
        prompt="Review: {text} Label: ",
        train_lang="en",
        id_field="id",
        train_source="MARC en train",
        hub=HubSpec(path="mteb/amazon_reviews_multi"),
    )
    return [xnli, indicxnli, sinhala_news, marc]


def flores_tasks() -> list[Task]:
    """The tasks on FLORES-200 sentences: SIB-200 topics and flores_en (write the sentence in English)."""
    sib200 = Task(
        name="sib200",
        description="SIB-200 topic classification (FLORES-200 sentences), 205 languages, 7 topics",
        languages=list(SIB200_LANGS),
        low_resource=[lang for lang in SIB200_LANGS if lang not in SIB200_NOT_LOW],
        label_words=list(SIB200_LABEL_MAP.values()),
        label_map=dict(SIB200_LABEL_MAP),
        label_field="category",
        id_field="index_id",
        prompt="Topic classification. Text: {text} Topic: ",
        train_lang="eng_Latn",
        train_source="eng_Latn train",
        hub=HubSpec(path="Davlan/sib200"),
    )
    flores_en = Task(
        name="flores_en",
        kind="generation",
        description="Read a FLORES-200 sentence in any language, write it in English (zero-shot: trained on "
                    "English text restated, no parallel data); chrF++ against the English sentence of the same id",
        languages=list(SIB200_LANGS),
        low_resource=list(sib200.low_resource),
        prompt="{text}",
        target="{text}",
        instruction="Translate into English: ",
        max_target_length=FLORES_EN_MAX_TARGET,
        decoding=dict(FLORES_EN_DECODING),
        id_field="index_id",
        reference_lang="eng_Latn",
        train_lang="eng_Latn",
        local_name="sib200",
        hub=HubSpec(path="Davlan/sib200"),
        train_corpora=list(FLORES_EN_TRAIN_TEXT),
        train_source="English text: SIB-200 eng_Latn train + validation, BBC news (sinhala_news en train); "
                     "never a FLORES sentence of the test split",
    )
    return [sib200, flores_en]


# flores_en's English training text (docs/generation.md, "Training text"): FLORES-200 sentences that
# are NOT in SIB-200's test split, then English BBC news (title + lead sentences).
FLORES_EN_TRAIN_TEXT = (
    TextCorpus("sib200", "eng_Latn", "train", hub=HubSpec(path="Davlan/sib200")),
    TextCorpus("sib200", "eng_Latn", "validation", hub=HubSpec(path="Davlan/sib200")),
    TextCorpus("sinhala_news", "en", "train", hub=HubSpec(
        path="Themira/en_si_news_classification_with_label_name", config=None, split="{split}_{lang}",
        columns={"sentence": "text"})),
)
FLORES_EN_MAX_TARGET = 96  # LLM tokens; FLORES sentences are 20-40 tokens, the news rows up to ~90
# flores_en's decoding, chosen in docs/generation.md (studies/flores_en_settings.sh): greedy, no repeated
# 3-grams (a small LLM loops without it), at most 80 new tokens; saved with every bridge trained on it
FLORES_EN_DECODING = {"max_new_tokens": 80, "no_repeat_ngram_size": 3}
