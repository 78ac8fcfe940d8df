//! The `oversight.v1.Operations` service: the log head, view lag, and view rebuilds.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use crate::app::App;
use crate::proto;
use crate::proto::operations_server::Operations;

type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Status and maintenance of the read models.
#[derive(Clone)]
pub struct OperationsService {
    state: App,
}

impl OperationsService {
    /// The service over the shared state.
    pub fn new(state: App) -> Self {
        Self { state }
    }

    /// The generated tonic server around this service.
    pub fn into_server(self) -> proto::operations_server::OperationsServer<Self> {
        proto::operations_server::OperationsServer::new(self)
    }
}

#[tonic::async_trait]
impl Operations for OperationsService {
    #[tracing::instrument(skip_all, fields(method = "Status"))]
    async fn status(
        &self,
        _request: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        let head = self.state.store.head().await?;
        let views = self
            .state
            .views
            .lag()
            .await?
            .into_iter()
            .map(|lag| proto::ViewStatus {
                name: lag.projection,
                checkpoint: lag.checkpoint,
                behind_positions: lag.behind_positions,
                behind_seconds: lag.behind_seconds,
            })
            .collect();
        Ok(Response::new(proto::StatusResponse {
            head_position: head.position,
            head_hash: head.hash.to_vec(),
            views,
            log_writable: self.state.store.is_writable(),
        }))
    }

    type RebuildViewStream = RpcStream<proto::RebuildProgress>;

    #[tracing::instrument(skip_all, fields(method = "RebuildView", view))]
    async fn rebuild_view(
        &self,
        request: Request<proto::RebuildViewRequest>,
    ) -> Result<Response<Self::RebuildViewStream>, Status> {
        let name = request.into_inner().name;
        tracing::Span::current().record("view", name.as_str());
        let target = self.state.store.head().await?.position;
        let mut progress = self.state.views.rebuild(&name).await?;
        tracing::info!(view = %name, target, "view rebuild started");
        let stream = async_progress(move |tx| async move {
            loop {
                let checkpoint = *progress.borrow_and_update();
                let done = checkpoint >= target;
                if tx
                    .send(Ok(proto::RebuildProgress {
                        checkpoint,
                        target,
                        done,
                    }))
                    .await
                    .is_err()
                    || done
                {
                    return;
                }
                if progress.changed().await.is_err() {
                    let _ = tx
                        .send(Err(Status::unavailable(
                            "the server is shutting down; the rebuild resumes from its checkpoint at the next start",
                        )))
                        .await;
                    return;
                }
            }
        });
        Ok(Response::new(stream))
    }
}

/// Runs `produce` in a task feeding a bounded channel, and returns the channel as a stream.
fn async_progress<F, Fut>(produce: F) -> RpcStream<proto::RebuildProgress>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<proto::RebuildProgress, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
