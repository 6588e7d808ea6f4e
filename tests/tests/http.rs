//! Multiboot boots over HTTP: the kernel and modules from nginx (Debian's, unpacked into
//! `target/tools`) and from `http_faults` (this package's test server), a host name resolved
//! through dnsmasq's DNS, redirects, chunked bodies, keep-alive, a 32 MiB module; the seeded
//! relay's loss and reordering; and every failure the loader names (refused, reset, timeout,
//! 404, another status, a body shorter or longer than announced, a redirect loop, a name that
//! does not resolve), each as one line with its code.
//!
//! Each test builds its own network namespace (see `netloader_tests::netns`). Root only: each
//! test is `#[ignore]`d for a plain `cargo test`, and `scripts/test` runs them when it is root
//! (as CI is).

use std::path::{Path, PathBuf};
use std::time::Duration;

use netloader::forms::{self, Form};
use netloader_tests::kernels::{Variant, parse_report};
use netloader_tests::netns::{self, FAULTS_PORT, Impairment, SERVER_ADDR, Servers, TestNet};
use netloader_tests::qemu::{Outcome, Qemu, work_dir};
use netloader_tests::scenario::{self, KERNEL_ARGS, Module};

/// nginx, http_faults, DNS; the DHCP boot file is the config on nginx.
fn servers(impairment: Impairment, reorder: f64) -> Servers {
    Servers {
        impairment,
        reorder,
        nginx: true,
        http_faults: Some(PathBuf::from(env!("CARGO_BIN_EXE_http_faults"))),
        dns: true,
        ..Servers::new(&format!("http://{SERVER_ADDR}/boot.cfg"))
    }
}

/// A config booting `kernel` (a URL) with `modules`, each `(URL, module)`.
fn config(kernel: &str, modules: &[(String, &Module)]) -> String {
    let mut text =
        format!("set timeout=0\nmenuentry \"over http\" {{\n  multiboot {kernel} {KERNEL_ARGS}\n");
    for (url, module) in modules {
        text += &format!("  module {url} {}\n", module.args);
    }
    text + "}\n"
}

/// Boot the ISO on an e1000 through `net` until the loader stops or QEMU exits.
fn boot(name: &str, net: &TestNet, iso: &Path, timeout: Duration) -> Outcome {
    let outcome = Qemu::new(name, "pc", 128)
        .timeout(timeout)
        .args(["-cdrom", iso.to_str().unwrap()])
        .args(["-netdev", &net.netdev("n0")])
        .pass_fd(net.qemu_fd())
        .args(["-device", "e1000,netdev=n0"])
        .run(|serial| serial.contains("netloader: stopped."));
    eprintln!("{name}: {:.1} s", outcome.elapsed.as_secs_f64());
    outcome
}

struct Setup {
    root: PathBuf,
    iso: PathBuf,
    net: TestNet,
}

fn setup(name: &str, modules: &[Module], servers: &Servers) -> Setup {
    let dir = work_dir().join(name);
    let root = scenario::tftp_root(&format!("{name}/root"), Variant::Elf32, modules, "boot.cfg");
    let iso = dir.join("netloader.iso");
    std::fs::write(&iso, forms::build(Form::Iso).unwrap()).unwrap();
    let net = TestNet::start_servers(&root, servers, &dir.join("servers"))
        .unwrap_or_else(|e| panic!("{name}: could not set up the namespace and its servers: {e}"));
    Setup { root, iso, net }
}

/// The kernel's report: every module byte-exact, and the command lines as netloader passes
/// them (the path as the config writes it, a URL here, then the arguments).
fn check_report(
    outcome: &Outcome,
    modules: &[Module],
    kernel: &str,
    lines: &[(String, &Module)],
    net: &TestNet,
) {
    outcome.check(
        parse_report(&outcome.serial).is_some(),
        &format!("the test kernel printed no report\n{}", net.server_logs()),
    );
    let paths: Vec<String> = lines.iter().map(|(url, _)| url.clone()).collect();
    scenario::check_report_at(outcome, Variant::Elf32, modules, kernel, &paths);
}

/// One boot that uses every way of fetching: the config from nginx by the DHCP boot file,
/// the kernel by a host name (DNS) on the same connection, a chunked module, one behind three
/// redirects, one whose body ends with the connection, one by `tftp://` and a host name, and
/// 32 MiB from nginx on the kept-alive connection. Every byte is checked by the kernel.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn kernel_and_modules_over_http() {
    let name = "http-boot";
    netns::require_root(name);
    let modules = scenario::modules_sized(&[300_000, 100_000, 70_000, 20_000, 40_000, 32 << 20]);
    let faults = format!("http://{SERVER_ADDR}:{FAULTS_PORT}");
    let urls = [
        format!("{faults}/chunked/mod0"),
        format!("{faults}/redirect/3/file/mod1"),
        format!("{faults}/close/mod2"),
        "tftp://boot.test/mod3".to_string(),
        "http://boot.test/mod4".to_string(),
        format!("http://{SERVER_ADDR}/mod5"),
    ];
    let lines: Vec<(String, &Module)> = urls.iter().cloned().zip(&modules).collect();
    let mut servers = servers(Impairment::NONE, 0.0);
    servers.tftp = netns::TftpServer::Atftpd;
    let s = setup(name, &modules, &servers);
    scenario::write(
        &s.root,
        "boot.cfg",
        config("http://boot.test/kernel", &lines).as_bytes(),
    );
    let outcome = boot(name, &s.net, &s.iso, Duration::from_secs(120));
    check_report(
        &outcome,
        &modules,
        "http://boot.test/kernel",
        &lines,
        &s.net,
    );
    for (what, text) in [
        (
            "the name resolved",
            "dns: boot.test is 192.168.77.1 (from 192.168.77.1)",
        ),
        (
            "the config over HTTP",
            "http: http://192.168.77.1/boot.cfg done: ",
        ),
        (
            "the kernel on the config's connection",
            "http: http://boot.test/kernel done: ",
        ),
        ("a chunked body", "/chunked/mod0 done: 300000 bytes"),
        (
            "three redirects",
            "http: http://192.168.77.1:8080/redirect/1/file/mod1 redirects to http://192.168.77.1:8080/redirect/0/file/mod1",
        ),
        ("a body until close", "/close/mod2 done: 70000 bytes"),
        ("tftp:// with a host name", "tftp: /mod3 done: 20000 bytes"),
        (
            "32 MiB",
            "http: http://192.168.77.1/mod5 done: 33554432 bytes",
        ),
    ] {
        outcome.check(outcome.contains(text), &format!("{what}: {text}"));
    }
    let line = |needle: &str| {
        outcome
            .serial
            .lines()
            .find(|l| l.contains(needle) && l.contains(" done: "))
            .unwrap_or("")
            .to_string()
    };
    outcome.check(
        line("http://boot.test/kernel").ends_with("kept-alive connection"),
        "the kernel came on the config's kept-alive connection",
    );
    outcome.check(
        line("/chunked/mod0").contains("chunked"),
        "mod0 was chunked",
    );
    outcome.check(
        line("/close/mod2").contains("until close"),
        "mod2 ended with its connection",
    );
}

/// The failures, one boot each on one namespace (the config on nginx is rewritten before each
/// boot): the line with its code, naming the URL. The faults come at byte counts the server
/// is told, never at a time; only the timeout case waits (the loader's 10 s).
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn failures_name_code_and_url() {
    let name = "http-fail";
    netns::require_root(name);
    let modules = scenario::modules_sized(&[300_000]);
    let s = setup(name, &modules, &servers(Impairment::NONE, 0.0));
    let faults = format!("http://{SERVER_ADDR}:{FAULTS_PORT}");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "refused",
            format!("http://{SERVER_ADDR}:81/kernel"),
            vec!["E-HTTP-REFUSED: http://192.168.77.1:81/kernel: the connection was refused"],
        ),
        (
            "reset",
            format!("{faults}/reset/50000/mod0"),
            vec![
                "E-HTTP-RESET: http://192.168.77.1:8080/reset/50000/mod0: the server reset the connection after 50000 bytes",
            ],
        ),
        (
            "short",
            format!("{faults}/short/50000/mod0"),
            vec![
                "E-HTTP-SHORT: http://192.168.77.1:8080/short/50000/mod0: the connection closed after 50000 of the 300000 bytes announced",
            ],
        ),
        (
            "long",
            format!("{faults}/long/mod0"),
            vec![
                "E-HTTP-LONG: http://192.168.77.1:8080/long/mod0: the server sent more than the 300000 bytes it announced",
            ],
        ),
        (
            "notfound",
            format!("http://{SERVER_ADDR}/no/such/file"),
            vec!["E-HTTP-NOTFOUND: http://192.168.77.1/no/such/file: not found (HTTP 404)"],
        ),
        (
            "status",
            format!("{faults}/status/503"),
            vec![
                "E-HTTP-STATUS: http://192.168.77.1:8080/status/503: the server answered HTTP 503 Test Status",
            ],
        ),
        (
            "loop",
            format!("{faults}/loop"),
            vec!["E-HTTP-REDIRECT: http://192.168.77.1:8080/loop: more than 5 redirects in a row"],
        ),
        (
            "https",
            format!("{faults}/https/kernel"),
            vec![
                "E-HTTP-REDIRECT: http://192.168.77.1:8080/https/kernel: redirected to another scheme",
            ],
        ),
        (
            "nxdomain",
            "http://nothere.test/kernel".to_string(),
            vec![
                "E-DNS-NOTFOUND: nothere.test does not resolve: the DNS server 192.168.77.1 knows no IPv4 address for it",
            ],
        ),
        (
            "stall",
            format!("{faults}/stall/mod0"),
            vec![
                "E-HTTP-TIMEOUT: http://192.168.77.1:8080/stall/mod0: the server sent nothing for 10 s",
            ],
        ),
    ];
    for (case, url, expected) in &cases {
        scenario::write(&s.root, "boot.cfg", config(url, &[]).as_bytes());
        let outcome = boot(
            &format!("{name}-{case}"),
            &s.net,
            &s.iso,
            Duration::from_secs(60),
        );
        for text in expected {
            outcome.check(
                outcome.contains(text),
                &format!(
                    "{case}: expected the line {text:?}\n{}",
                    s.net.server_logs()
                ),
            );
        }
        outcome.check(
            outcome.contains("netloader: stopped."),
            &format!("{case}: the stop message"),
        );
        outcome.check(
            !outcome.contains("MB BEGIN"),
            &format!("{case}: the kernel must not start"),
        );
    }
    // Last, the boot file is itself a kernel: booted directly over HTTP.
    std::fs::copy(Variant::Elf32.path(), s.root.join("boot.cfg")).unwrap();
    let outcome = boot(
        &format!("{name}-direct"),
        &s.net,
        &s.iso,
        Duration::from_secs(60),
    );
    outcome.check(
        outcome.contains(
            "boot: http://192.168.77.1/boot.cfg is a multiboot kernel: booting it directly",
        ),
        "the boot file is a kernel",
    );
    outcome.check(
        parse_report(&outcome.serial).is_some_and(|r| r.verdict_pass),
        "the kernel ran",
    );
}

/// No boot file, and option 210 (PXELINUX's path prefix) an `http://` URL: the per-host
/// config names are looked up on the web server (404 for `01-<mac>` and the IP names, then
/// `default`), and the config found boots.
#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn per_host_config_under_an_http_prefix() {
    let name = "http-prefix";
    netns::require_root(name);
    let modules = scenario::modules_sized(&[50_000]);
    let servers = Servers {
        dhcp: netns::DhcpServer::AddressesOnly,
        dhcp_options: vec![format!("210,http://{SERVER_ADDR}/pxe/")],
        ..servers(Impairment::NONE, 0.0)
    };
    let s = setup(name, &modules, &servers);
    let lines: Vec<(String, &Module)> = modules
        .iter()
        .map(|m| (format!("http://{SERVER_ADDR}/{}", m.name), m))
        .collect();
    std::fs::create_dir_all(s.root.join("pxe/netloader.cfg")).unwrap();
    let kernel = format!("http://{SERVER_ADDR}/kernel");
    scenario::write(
        &s.root,
        "pxe/netloader.cfg/default",
        config(&kernel, &lines).as_bytes(),
    );
    let outcome = boot(name, &s.net, &s.iso, Duration::from_secs(60));
    outcome.check(
        outcome.contains("config: no http://192.168.77.1/pxe/netloader.cfg/01-52-54-00-12-34-56"),
        "the MAC name was looked up on the web server",
    );
    outcome.check(
        outcome.contains(
            "config: found http://192.168.77.1/pxe/netloader.cfg/default on http://192.168.77.1/pxe/",
        ),
        "the default config was found on the web server",
    );
    check_report(&outcome, &modules, &kernel, &lines, &s.net);
}

/// Larger modules, so that the relay's faults hit many segments.
const LOSSY: [usize; 3] = [100_000, 700_000, 1_500_000];

fn lossy(name: &str, impairment: Impairment, reorder: f64) {
    netns::require_root(name);
    let modules = scenario::modules_sized(&LOSSY);
    let s = setup(name, &modules, &servers(impairment, reorder));
    let lines: Vec<(String, &Module)> = modules
        .iter()
        .map(|m| (format!("http://{SERVER_ADDR}/{}", m.name), m))
        .collect();
    let kernel = format!("http://{SERVER_ADDR}/kernel");
    scenario::write(&s.root, "boot.cfg", config(&kernel, &lines).as_bytes());
    // A guard against hangs, not a speed check.
    let outcome = boot(name, &s.net, &s.iso, Duration::from_secs(180));
    check_report(&outcome, &modules, &kernel, &lines, &s.net);
    use std::sync::atomic::Ordering::Relaxed;
    let stats = s.net.stats();
    eprintln!(
        "{name}: relay dropped {}, duplicated {}, reordered {}",
        stats.dropped.load(Relaxed),
        stats.duplicated.load(Relaxed),
        stats.reordered.load(Relaxed)
    );
    if impairment.loss > 0.0 {
        outcome.check(stats.dropped.load(Relaxed) > 0, "the relay dropped frames");
    }
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn five_percent_loss() {
    let impairment = Impairment {
        loss: 0.05,
        seed: 5,
        ..Impairment::NONE
    };
    lossy("http-loss5", impairment, 0.0);
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn twenty_percent_loss() {
    let impairment = Impairment {
        loss: 0.20,
        seed: 20,
        ..Impairment::NONE
    };
    lossy("http-loss20", impairment, 0.0);
}

#[test]
#[ignore = "needs root (network namespaces, tap devices): scripts/test runs it as root"]
fn duplicates_and_reordering() {
    let impairment = Impairment {
        duplicate: 0.01,
        seed: 101,
        ..Impairment::NONE
    };
    lossy("http-dup-reorder", impairment, 0.01);
}
