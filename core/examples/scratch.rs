use toolgate::gateway::GatewayBuilder;
use toolgate::upstream::StdioSpec;

#[tokio::main]
async fn main() {
    tracing_subscriber_init();
    let g = GatewayBuilder::new()
        .stdio("demo", StdioSpec { command: "/work/wt-demo/target/debug/demo-server".into(), ..Default::default() })
        .stdio("demo2", StdioSpec { command: "/work/wt-demo/target/debug/demo-server".into(), args: vec!["--name".into(), "two".into()], ..Default::default() })
        .build();
    let l = tokio::net::TcpListener::bind("127.0.0.1:4555").await.unwrap();
    eprintln!("listening");
    g.serve(l).await.unwrap();
}
fn tracing_subscriber_init() {}
