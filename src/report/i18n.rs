//! Labels of the human reports (`report.html`, `report.xlsx`) in Chinese or English
//! (`--lang zh|en`, CONTRACT.md §6). Machine outputs keep their column names and codes; a
//! human report shows the label and keeps the code beside it.

/// The language of the human reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// 中文 (default)
    #[default]
    Zh,
    /// English
    En,
}

impl Lang {
    /// The Chinese or the English text.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
    /// `lang` attribute of the HTML page.
    pub fn html(self) -> &'static str {
        self.pick("zh-CN", "en")
    }
    /// The label of a code (fund, benefit, category, assistance class, district, reason,
    /// status, income item); an unknown code is shown as it is.
    pub fn term(self, code: &str) -> String {
        match TERMS.iter().find(|t| t.0 == code) {
            Some((_, zh, en)) => self.pick(zh, en).to_string(),
            None => code.to_string(),
        }
    }
}

/// (code, 中文, English). Funds as in RULES.md §1, benefits §3, categories §2.
const TERMS: &[(&str, &str, &str)] = &[
    // funds (expenditure)
    ("hifp", "统筹基金", "basic pooling fund"),
    ("hifob", "大额医疗补助", "large-amount supplementary fund"),
    ("hifmi", "大病保险", "catastrophic insurance"),
    ("maf", "医疗救助", "medical assistance"),
    ("maf_tilt", "倾斜救助", "tilted assistance"),
    ("psn_part", "个人负担", "personal burden"),
    ("oth", "其他支付", "other payers"),
    ("funds", "各项基金合计", "all funds"),
    ("income", "收入", "income"),
    ("expenditure", "支出", "expenditure"),
    ("burden", "个人负担", "personal burden"),
    ("income_total", "收入合计", "total income"),
    ("final_burden", "个人最终负担", "final personal burden"),
    // funds (income, RULES.md §9)
    ("basic", "基本医疗保险基金", "basic medical insurance fund"),
    ("ltc", "长期护理保险", "long-term care insurance"),
    // income items
    ("personal", "个人缴费", "personal contribution"),
    ("government_paid_personal", "政府代缴个人部分", "personal part paid by government"),
    ("government_subsidy", "财政补助", "government subsidy"),
    ("employer", "单位缴费", "employer contribution"),
    // benefits
    ("inpatient", "住院", "inpatient"),
    ("maternity", "生育住院", "maternity"),
    ("outpatient", "普通门诊", "general outpatient"),
    ("pharmacy", "定点药店购药", "pharmacy"),
    ("chronic", "门诊慢性病", "chronic outpatient"),
    ("special", "门诊特殊病", "special outpatient"),
    ("dual_channel", "双通道药品", "dual-channel drugs"),
    ("rare_drug", "罕见病用药", "rare-disease drugs"),
    ("pku", "苯丙酮尿症", "phenylketonuria"),
    ("none", "无", "none"),
    ("year_end", "年终", "year end"),
    // categories
    ("elderly", "老年居民", "elderly resident"),
    ("non_employed", "非从业居民", "non-employed resident"),
    ("minor", "未成年居民", "minor"),
    ("student", "大学生", "college student"),
    ("in_service", "在职职工", "in-service employee"),
    ("retired", "退休人员", "retiree"),
    ("veteran_worker", "建国前老工人", "pre-1949 veteran worker"),
    // assistance classes
    ("destitute", "特困供养人员", "destitute (100%)"),
    ("other", "其他救助对象", "other assistance (80%)"),
    ("no_assistance", "非救助对象", "not an assistance recipient"),
    // districts
    ("tianning", "天宁区", "Tianning"),
    ("zhonglou", "钟楼区", "Zhonglou"),
    ("xinbei", "新北区", "Xinbei"),
    ("wujin", "武进区", "Wujin"),
    ("jingkai", "经开区", "Jingkai"),
    ("liyang", "溧阳市", "Liyang"),
    ("jintan", "金坛区", "Jintan"),
    ("rudong", "如东县", "Rudong"),
    // scenario groupings and changes
    ("all", "全部", "all"),
    ("psn_type", "人员类别", "category"),
    ("assistance", "救助类别", "assistance class"),
    ("district", "区县", "district"),
    ("age_band", "年龄段", "age band"),
    ("decile", "基线负担十分位", "decile of baseline burden"),
    ("gain", "受益（负担减少）", "gain (lower burden)"),
    ("loss", "受损（负担增加）", "loss (higher burden)"),
    // statuses and not-covered reasons (RULES.md S-21)
    ("settled", "已结算", "settled"),
    ("reversal", "冲销", "reversal"),
    ("not_covered", "不予支付", "not covered"),
    ("waiting_period", "待遇等待期内", "waiting period"),
    ("non_designated", "非定点机构", "non-designated facility"),
    ("not_in_scheme", "非本险种待遇", "not in the scheme"),
    ("age_limit", "不符合年龄条件", "age limit"),
    ("chronic_not_approved", "慢性病未认定", "chronic disease not approved"),
    ("unreferred", "未办理转诊备案", "not referred"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn funds_have_their_chinese_names_and_unknown_codes_stay() {
        assert_eq!(Lang::Zh.term("hifp"), "统筹基金");
        assert_eq!(Lang::Zh.term("hifob"), "大额医疗补助");
        assert_eq!(Lang::Zh.term("hifmi"), "大病保险");
        assert_eq!(Lang::Zh.term("maf"), "医疗救助");
        assert_eq!(Lang::Zh.term("maf_tilt"), "倾斜救助");
        assert_eq!(Lang::En.term("hifp"), "basic pooling fund");
        assert_eq!(Lang::Zh.term("bad_med_type"), "bad_med_type");
        let mut codes: Vec<&str> = TERMS.iter().map(|t| t.0).collect();
        codes.sort();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "a code appears twice");
    }
}
