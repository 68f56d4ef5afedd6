use switchyard_model::config::static_cfg::StaticConfig;
#[test]
fn probe() {
    let text = std::fs::read_to_string("/tmp/flags.txt").unwrap();
    for line in text.lines() {
        let flag = line.replace("<name>", "x").replace("[n]", "[0]");
        let r: Result<StaticConfig, _> = switchyard_model::decode::from_flags(&[format!("--{flag}")]);
        if let Err(e) = r {
            if e.message.contains("unknown") || !e.message.contains("no value") {
                println!("PROBE {flag}: {}", e.message.chars().take(100).collect::<String>());
            }
        }
    }
}
